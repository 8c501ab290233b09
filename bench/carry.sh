#!/usr/bin/env bash
# Packs build/release into .carry for the device tool's `carry` (64 MiB in all): the build
# tree without object files, static libraries, build files and the executables that need
# no GPU, its binaries stripped, plus the shared MLIR and LLVM libraries that libmfjit
# needs and the GPU machine lacks, xz-compressed into .carry/deps/ (about 45 MB), and the
# libraries libLLVM itself needs beyond glibc, libstdc++, zlib and libxml2 (z3, libedit,
# ...; about 8 MB) into .carry/deps/lib/. On the device, `bench/uncarry.sh` puts the tree in place and
# unpacks them; the binaries find deps/ through their $ORIGIN/../deps rpath, libLLVM finds
# lib/ through its own $ORIGIN/../lib. libxml2 is the GPU machine's own: Debian's would
# bring ICU 72 and its 31 MB of data past the limit (uncarry.sh names anything missing).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.carry/' .git/info/exclude 2>/dev/null || echo '/.carry/' >> .git/info/exclude
rm -rf .carry
cp -a build/release .carry
find .carry \( -name '*.o' -o -name '*.a' \) -delete
find .carry/tests -maxdepth 1 -name 'mf_*_tests' ! -name mf_gpu_tests -delete
# Test artifacts (the fake devices' kernel caches and databases, ctest's logs) stay here.
rm -rf .carry/tests/*_cache .carry/tests/mf_tune_fake .carry/Testing
rm -rf .carry/tools/mf-db/mf-db .carry/tools/mf-compile/mf-compile .carry/tools/mf-suite/mf-suite .carry/.ninja_* .carry/build.ninja
find .carry -type f \( -perm -u+x -o -name '*.so*' \) -exec sh -c 'file -b "$1" | grep -q ELF && strip --strip-unneeded "$1"' _ {} \;
mkdir -p .carry/deps
for library in $(ldd build/release/runtime/libmfjit.so | awk '/lib(MLIR|LLVM)/ {print $3}'); do
  xz -T2 -6 -c "$library" > ".carry/deps/$(basename "$library").xz"
done
mkdir -p .carry/deps/lib
llvm=$(ldd build/release/runtime/libmfjit.so | awk '/libLLVM/ {print $3}')
for library in $(ldd "$llvm" | awk '$3 ~ /^\// {print $3}' \
                 | grep -vE '/(libc|libm|libstdc\+\+|libgcc_s|libz|ld-linux[^/]*|libxml2|libicu[a-z]*)\.so'); do
  xz -T2 -6 -c "$(readlink -f "$library")" > ".carry/deps/lib/$(basename "$library").xz"
done
du -sh .carry
