"""The benchmarks' name for the mfjit package's C API binding and runners (python/mfjit/capi.py
and runners.py), importable from bench/ without installing the package."""

import pathlib
import sys

_python = pathlib.Path(__file__).resolve().parent.parent / "python"
if str(_python) not in sys.path:
    sys.path.insert(0, str(_python))

from mfjit.capi import *  # noqa: E402,F401,F403
from mfjit.runners import *  # noqa: E402,F401,F403
