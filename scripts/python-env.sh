#!/usr/bin/env bash
# Creates or refreshes ./.venv with the pinned Python tools the tests use, and prints its path.
# Idempotent: reinstalls only when a requirements file changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MARKETBILL_VENV:-$root/.venv}"
reqs=("$root"/tools/*/requirements.txt)
# uv (Astral's installer, from PyPI, pinned) installs them: pip took 65 to 74 s of CPU for this
# set on 2 cores (its resolver, and byte-compiling every module of every package); uv 3 s from
# its cache (this whole script 9 s), 23 s from an empty one. Python compiles a module the first
# time it is imported.
uv_pin="uv==0.13.9"
stamp="$venv/.requirements.sha256"
want="$( (cat "${reqs[@]}"; echo "$uv_pin") | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv" >&2
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "installing pinned Python tools into $venv (one-time)..." >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$uv_pin" >&2
  # pip's own settings, where the machine has them: a local folder of wheels, a CA bundle.
  uv_args=()
  if [[ -n "${PIP_FIND_LINKS:-}" ]]; then uv_args+=(--find-links "$PIP_FIND_LINKS"); fi
  if [[ -z "${SSL_CERT_FILE:-}" && -n "${PIP_CERT:-}" ]]; then export SSL_CERT_FILE="$PIP_CERT"; fi
  "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" "${uv_args[@]}" \
    $(printf -- '-r %s ' "${reqs[@]}") >&2
  echo "$want" > "$stamp"
fi
echo "$venv"
