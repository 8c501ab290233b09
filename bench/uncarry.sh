#!/usr/bin/env bash
# On the device: puts the tree bench/carry.sh packed in place as build/release (replacing
# what a warm machine kept; `mv` into an existing folder would nest it) and unpacks the
# libraries in build/release/deps.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build/release
mkdir -p build
mv .carry build/release
for packed in build/release/deps/*.xz; do
  [ -e "$packed" ] && xz -d -f "$packed"
done
