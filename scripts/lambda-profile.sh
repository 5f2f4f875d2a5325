#!/usr/bin/env bash
# The release profile of the shipped Lambda functions and of the benchmark: optimized
# (opt-level 3), fat LTO and one codegen unit (smaller and faster binaries, a slower build).
# Cargo.toml's release profile is tuned for a quick first build of the demo (not optimized);
# source this before `sam build` or a measurement:
#   source scripts/lambda-profile.sh && sam build --beta-features
export CARGO_PROFILE_RELEASE_OPT_LEVEL=3
export CARGO_PROFILE_RELEASE_LTO=fat
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
