#!/usr/bin/env bash
# The whole test suite: what a developer runs and what CI runs after fmt and clippy.
# Python tools the tests use (validators, emulators) are installed into ./.venv, pinned.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo test --workspace --all-targets "$@"
