#!/usr/bin/env bash
# Prepares .gpu/ (ignored; pass carry: [".gpu"]) for a device run that builds mfjit on the
# GPU machine (bench/device_run.sh build ...): the Debian -dev packages the build needs and
# that machine lacks, and, with --peers, the peers' wheels (cuEquivariance for CUDA 13 and
# what it needs beyond the machine's image), xz-packed to fit the 64 MiB carry.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
mkdir -p .gpu/debs
(cd .gpu/debs && apt-get download libfmt-dev libfmt9 nlohmann-json3-dev libsqlite3-dev libsqlite3-0 \
   libgtest-dev libgmock-dev googletest libamdhip64-dev)
if [ "${1:-}" = --peers ]; then
  wheels=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$wheels" \
    cuequivariance-ops-torch-cu13==0.13.0 cuequivariance-ops-cu13==0.13.0 cuequivariance-torch==0.13.0 \
    cuequivariance==0.13.0 opt-einsum platformdirs tqdm nvidia-ml-py
  # Wheels are zip files: stored uncompressed inside one xz stream they pack ~2.5x smaller.
  stored=$(mktemp -d)
  python3 - "$wheels" "$stored" <<'PY'
import pathlib, sys, zipfile
source, target = map(pathlib.Path, sys.argv[1:])
for wheel in source.glob("*.whl"):
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(target / wheel.name, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename), compress_type=zipfile.ZIP_STORED)
PY
  tar -C "$stored" -cf - . | xz -T2 -6 > .gpu/wheels.tar.xz
  rm -rf "$wheels" "$stored"
fi
du -sh .gpu
