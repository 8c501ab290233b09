"""The wheel: built from the repository with pip (binaries taken from the build tree that
ctest runs, so nothing is compiled twice), installed into a fresh virtual environment, and
used from outside the source tree: the bundled library and mf-tune are the ones found."""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_the_wheel_installs_and_runs_with_its_bundled_library(tmp_path):
    library = os.environ.get("MFJIT_LIBRARY")
    if not library:
        pytest.skip("run through ctest, which names the build tree's library in $MFJIT_LIBRARY")
    build_tree = pathlib.Path(library).resolve().parent.parent
    if not (build_tree / "build.ninja").is_file():
        pytest.skip(f"{build_tree} is not a build tree that can build (a carried copy of one)")
    env = {k: v for k, v in os.environ.items() if k not in ("MFJIT_LIBRARY", "PYTHONPATH")}
    env["MFJIT_CMAKE_BUILD_DIR"] = str(build_tree)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q", "-w", str(wheels),
                    str(REPO)], check=True, env=env)
    (wheel,) = wheels.glob("mfjit-*.whl")
    assert wheel.name.endswith("linux_x86_64.whl") and "-py3-none-" in wheel.name

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True,
                   env=env)
    check = textwrap.dedent("""
        import pathlib, sys, torch, mfjit
        package = pathlib.Path(mfjit.__file__).parent
        assert str(package).startswith(sys.prefix), package
        assert mfjit.find_library() == package / "lib" / "libmfjit.so", mfjit.find_library()
        x, w1, w2 = torch.randn(5, 16, dtype=torch.float64), torch.randn(32, 16, dtype=torch.float64), torch.randn(16, 16, dtype=torch.float64)
        a, g = (x @ w1.t()).chunk(2, -1)
        assert torch.allclose(mfjit.transition(x, w1, w2), (a * torch.nn.functional.silu(g)) @ w2.t())
        database = mfjit.describe("transition")[0]["tuning_db"]
        assert mfjit.tune(trials=1) == [{"backend": "cpu", "device": 0, "database": database}]  # the bundled mf-tune
        print(mfjit.version())
    """)
    env["MFJIT_CACHE_DIR"] = str(tmp_path / "cache")
    done = subprocess.run([str(python), "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "0.1.0"
