"""Builds the wheel of the mfjit package: the Python sources of python/mfjit plus the C++
library and tools built by CMake, laid out as the package's loader expects them:
mfjit/lib/libmfjit.so, mfjit/bin/mf-tune, mf-db and mf-hiprtc-worker (which libmfjit finds in
../bin from itself), and mfjit/deps/ (the libraries the
build copies beside its binaries; their $ORIGIN/../deps rpath finds them there).

$MFJIT_CMAKE_BUILD_DIR names an existing, configured build tree to take the binaries from
(only its targets are brought up to date); without it the build goes to build/wheel,
configured for Release without the tests. LLVM and MLIR 22 stay the system's (Debian's
llvm-22 packages): the wheel runs where they are installed."""

import os
import pathlib
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from wheel.bdist_wheel import bdist_wheel

ROOT = pathlib.Path(__file__).resolve().parent
TARGETS = ("mfjit", "mf-tune", "mf-db", "mf-hiprtc-worker")


def cmake_build() -> pathlib.Path:
    given = os.environ.get("MFJIT_CMAKE_BUILD_DIR")
    build = pathlib.Path(given).resolve() if given else ROOT / "build" / "wheel"
    if not given:
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                        "-DMF_BUILD_TESTS=OFF"], check=True)
    elif not (build / "CMakeCache.txt").is_file():
        raise RuntimeError(f"$MFJIT_CMAKE_BUILD_DIR={given} is not a configured CMake build tree")
    subprocess.run(["cmake", "--build", str(build), "--target", *TARGETS, "-j", os.environ.get("MFJIT_BUILD_JOBS", "2")],
                   check=True)
    return build


class BuildWithLibrary(build_py):
    """build_py, then the C++ binaries copied into the built package."""

    def run(self):
        super().run()
        build = cmake_build()
        package = pathlib.Path(self.build_lib) / "mfjit"
        for folder in ("lib", "bin", "deps"):
            shutil.rmtree(package / folder, ignore_errors=True)
            (package / folder).mkdir(parents=True)
        shutil.copy2((build / "runtime" / "libmfjit.so").resolve(), package / "lib" / "libmfjit.so")
        for tool in ("mf-tune", "mf-db"):
            shutil.copy2(build / "tools" / tool / tool, package / "bin" / tool)
        shutil.copy2(build / "compiler" / "mf-hiprtc-worker", package / "bin" / "mf-hiprtc-worker")
        for library in (build / "deps").glob("*.so*"):
            shutil.copy2(library.resolve(), package / "deps" / library.name)


class PlatformWheel(bdist_wheel):
    """A wheel for this platform (it carries native binaries) and any Python 3 (they are not
    extension modules: the package loads them with ctypes)."""

    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        return ("py3", "none", super().get_tag()[2])


setup(cmdclass={"build_py": BuildWithLibrary, "bdist_wheel": PlatformWheel})
