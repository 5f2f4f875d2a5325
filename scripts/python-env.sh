#!/usr/bin/env bash
# Creates or refreshes ./.venv with the pinned Python tools the tests use, and prints its path.
# Idempotent: reinstalls only when a requirements file changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MARKETBILL_VENV:-$root/.venv}"
reqs=("$root"/tools/*/requirements.txt)
stamp="$venv/.requirements.sha256"
want="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv" >&2
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "installing pinned Python tools into $venv (one-time)..." >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check $(printf -- '-r %s ' "${reqs[@]}") >&2
  echo "$want" > "$stamp"
fi
echo "$venv"
