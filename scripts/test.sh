#!/usr/bin/env bash
# The whole test suite: what a developer runs and what CI runs after fmt and clippy.
# Python tools the tests use (validators, emulators) are installed into ./.venv, pinned.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Prepare the pinned Python tools once, before the test binaries that use them.
scripts/python-env.sh >/dev/null
# The browser tests' axe-core (pinned, from the npm registry); Chromium comes from apt.
MARKETBILL_AXE="$(scripts/browser-env.sh)"
export MARKETBILL_AXE

# The same tests either way: cargo-nextest runs them across all test binaries at once (each in
# its own process, the slowest first: .config/nextest.toml); without it, cargo test runs the
# binaries one after another.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-targets "$@"
else
  cargo test --workspace --all-targets "$@"
fi
