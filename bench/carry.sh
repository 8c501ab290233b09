#!/usr/bin/env bash
# Packs build/release into .carry for the device tool's `carry` (64 MiB in all): the build
# tree without object files, static libraries and the test executables that need no GPU,
# its binaries stripped, plus the shared MLIR and LLVM libraries
# that libmfjit needs and the GPU machine lacks, xz-compressed into .carry/deps/ (about
# 45 MB). On the device, `bench/uncarry.sh` puts the tree in place and unpacks them; the
# binaries find them through their $ORIGIN/../deps rpath.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.carry/' .git/info/exclude 2>/dev/null || echo '/.carry/' >> .git/info/exclude
rm -rf .carry
cp -a build/release .carry
find .carry \( -name '*.o' -o -name '*.a' \) -delete
find .carry/tests -maxdepth 1 -name 'mf_*_tests' ! -name mf_gpu_tests -delete
find .carry -type f \( -perm -u+x -o -name '*.so*' \) -exec sh -c 'file -b "$1" | grep -q ELF && strip --strip-unneeded "$1"' _ {} \;
mkdir -p .carry/deps
for library in $(ldd build/release/runtime/libmfjit.so | awk '/lib(MLIR|LLVM)/ {print $3}'); do
  xz -T2 -6 -c "$library" > ".carry/deps/$(basename "$library").xz"
done
du -sh .carry
