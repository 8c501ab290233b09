#!/usr/bin/env bash
# Installs every system dependency of mfjit from the distribution's packages (Debian 12)
# and what the Python tests need from PyPI. Idempotent: when everything is present it only
# checks, in a few seconds (importing torch is most of them).
set -euo pipefail

packages=(
  build-essential cmake ninja-build git pkg-config
  llvm-22-dev libmlir-22-dev mlir-22-tools lld-22
  libfmt-dev nlohmann-json3-dev libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev
  # AMD: hipRTC (inside HIP 5.2's runtime library), its headers and device libraries; loaded
  # with dlopen at run time, needed by the HIP compile tests (docs/hip.md).
  libamdhip64-5 libamdhip64-dev libhiprtc-builtins5 rocm-device-libs
)
# jax: the CPU build from PyPI (jax and jaxlib), for mfjit.jax and its XLA FFI handlers (docs/jax.md).
python_modules=(pytest numpy wheel jax)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

missing_modules=()
for module in "${python_modules[@]}"; do
  python3 -c "import $module" 2>/dev/null || missing_modules+=("$module")
done
if [ ${#missing_modules[@]} -gt 0 ]; then
  echo "setup: installing Python modules ${missing_modules[*]}"
  if ! python3 -m pip install --quiet --root-user-action=ignore "${missing_modules[@]}"; then
    # Debian's own python3 has no pip, or refuses installs into the system (PEP 668):
    # take the distribution's packages of the modules instead.
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing_modules[@]/#/python3-}"
  fi
fi

# The Python package's tests need PyTorch with torch.library.custom_op (2.4 or newer; Debian's
# python3-torch is older): from PyPI, the version the GPU machines run.
torch_version=2.11.0
if ! python3 -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$torch_version')" 2>/dev/null; then
  echo "setup: installing torch==$torch_version from PyPI"
  python3 -m pip install --quiet --root-user-action=ignore "torch==$torch_version"
fi

# The CUDA toolkit's headers (cuda.h) are needed to build; the driver is loaded at run time
# and is optional. Debian 12 main has no CUDA 13 toolkit, so it must come with the machine.
if ! command -v nvcc >/dev/null 2>&1 && [ ! -f /usr/local/cuda/include/cuda.h ]; then
  echo "setup: the CUDA toolkit (nvcc, cuda.h) was not found; install CUDA 13 under /usr/local/cuda" >&2
  exit 1
fi
