#!/usr/bin/env bash
# The benchmark suite behind the README's "Performance" section: our rendering against
# reportlab and WeasyPrint, 1,000-order seller runs (embedded adapters; the seller-run Lambda
# binary on moto), Lambda start-up and sizes, and the cost per 1,000 invoices.
# Writes target/bench/results.json and results.md. Not part of the tests: it measures.
# Options go to `marketbill-bench all` (e.g. --moto-orders 0 to skip the moto run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Measured as shipped: the Lambda functions' release settings (fat LTO, one codegen unit).
source scripts/lambda-profile.sh

# moto (for the Lambda run) lives in the tests' venv.
scripts/python-env.sh >/dev/null

# The peers live in a venv of their own, pinned in bench/requirements.txt.
venv=.venv-bench
want="$(sha256sum bench/requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
if [[ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
  echo "installing reportlab and WeasyPrint into $venv (one-time)..." >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
  echo "$want" > "$venv/.requirements.sha256"
fi
# WeasyPrint loads Pango at run time.
if ! ldconfig -p | grep -q 'libpango-1.0.so.0'; then
  echo "installing Pango for WeasyPrint (apt-get)..." >&2
  apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 >/dev/null
fi

# Wherever the build goes (CARGO_TARGET_DIR or ./target).
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target/bench"

# The long fuzzing pass (the test suite runs 2,000 cases): mutated orders and profiles through
# parse, draft and render, on the release build. Its count goes to $target/bench/fuzz.txt.
cases="${MARKETBILL_FUZZ_CASES:-50000}"
echo "fuzzing: $cases cases (release build)..." >&2
MARKETBILL_FUZZ_CASES="$cases" cargo test --release -q -p marketbill-documents --test fuzz -- --nocapture 2>&1 \
  | grep -E '^fuzz:' | tee "$target/bench/fuzz.txt"

cargo build --release -p marketbill-bench -p seller-run -p scheduler -p import-tracker -p portal-api
exec "$target/release/marketbill-bench" all --python "$venv/bin/python" --bins "$target/release" \
  --out "$target/bench" "$@"
