#!/usr/bin/env bash
# On the device: puts the tree bench/carry.sh packed in place as build/release (replacing
# what a warm machine kept; `mv` into an existing folder would nest it), unpacks the
# libraries in build/release/deps, moves libLLVM's own dependencies to build/release/lib
# (its $ORIGIN/../lib rpath), and names any library still missing.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build/release
mkdir -p build
mv .carry build/release
for packed in build/release/deps/*.xz build/release/deps/lib/*.xz; do
  [ -e "$packed" ] && xz -d -f "$packed"
done
rm -rf build/release/lib
[ -d build/release/deps/lib ] && mv build/release/deps/lib build/release/lib
missing=$(ldd build/release/runtime/libmfjit.so | grep 'not found' || true)
[ -z "$missing" ] || echo "uncarry: libmfjit still lacks: $missing" >&2
