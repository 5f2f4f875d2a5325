#!/usr/bin/env bash
# What the browser tests need besides Rust: Debian's chromium and chromium-driver (installed by
# .ci/run with apt-get; on a developer's machine: `sudo apt-get install chromium
# chromium-driver`), and axe-core from the npm registry, pinned and checked, into ./.cache.
# Prints the path of axe.min.js. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="4.14.1"
integrity="sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
dir="${MARKETBILL_CACHE:-$root/.cache}/axe-core-$version"
if [[ ! -f "$dir/axe.min.js" ]]; then
  echo "fetching axe-core $version from the npm registry (one-time)..." >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  tarball="$tmp/axe-core-$version.tgz"
  curl --fail --silent --show-error --location \
    "https://registry.npmjs.org/axe-core/-/axe-core-$version.tgz" -o "$tarball"
  got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [[ "$got" != "$integrity" ]]; then
    echo "axe-core $version: the tarball's digest is not the registry's published integrity" >&2
    exit 1
  fi
  tar -xzf "$tarball" -C "$tmp" package/axe.min.js package/LICENSE
  mkdir -p "$dir"
  mv "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$dir/"
fi
for tool in chromium chromedriver; do
  if ! command -v "$tool" >/dev/null; then
    echo "warning: $tool is not installed; the browser tests will fail (apt-get install chromium chromium-driver)" >&2
  fi
done
echo "$dir/axe.min.js"
