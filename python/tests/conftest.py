"""Fixtures of the mfjit package's tests: the devices to run on (cpu always, cuda where torch
sees a GPU), an isolated kernel cache and tuning database, and fresh random inputs."""

import os
import pathlib
import sys
import tempfile

# Before mfjit creates a context: the kernel cache and tuning database of this test run only.
os.environ.setdefault("MFJIT_CACHE_DIR", tempfile.mkdtemp(prefix="mfjit-pytest-"))
os.environ.pop("MFJIT_DB", None)
# Importable from the source tree without installing (an installed mfjit is used if there is one).
sys.path.append(str(pathlib.Path(__file__).resolve().parent.parent))

import pytest  # noqa: E402
import torch  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(1234)


def poison_allocator(device: torch.device, nbytes: int) -> None:
    """Fills a freed block of the CUDA caching allocator with NaN, so outputs allocated next
    hold NaN until the kernels write every element (a no-op on the cpu, whose allocator gives
    no such guarantee)."""
    if device.type == "cuda":
        torch.full((nbytes // 4 + 1,), float("nan"), device=device)  # freed at once, into the cache
