"""libmfjit_jax (python/xla_ffi): found, loaded with ctypes, its handlers registered as XLA
FFI targets, and one operator pass as a `jax.ffi.ffi_call`.

A pass names its tensors by the fields of the operator's C descriptor (mfjit.capi.EVO_TENSORS,
LNL_TENSORS, TRANSITION_TENSORS). Before the call is staged, mfjit_jax_prepare makes (and
caches) its plan for the shapes being traced and returns the workspace it needs, which the
call then asks XLA for as one more result: the handler allocates nothing. Under jax.vmap
(vmap_method="expand_dims") the handler folds the batch into B (or M) where the strides
allow it, else runs the batch elements in turn.
"""

from __future__ import annotations

import ctypes
import functools
import os
import pathlib
import threading
from typing import Optional

import jax
import numpy as np

from .. import capi

LIBRARY_NAME = "libmfjit_jax.so"

OPS = {"evo_attention": 0, "layer_norm_linear": 1, "transition": 2}
FIELDS = {"evo_attention": capi.EVO_TENSORS, "layer_norm_linear": capi.LNL_TENSORS,
          "transition": capi.TRANSITION_TENSORS}
LAYOUTS = {"canonical": 0, "single": 1, "triangle_start": 2, "triangle_end": 3, "msa_row": 4, "msa_column": 5}
PASSES = {capi.MF_FORWARD: "fwd", capi.MF_BACKWARD: "bwd"}


class Attributes(ctypes.Structure):
    """mfjit_jax_attributes (python/xla_ffi/mfjit_jax.h)."""

    _fields_ = [("op", ctypes.c_int32), ("direction", ctypes.c_int32), ("layout", ctypes.c_int32),
                ("dbias_mode", ctypes.c_int32), ("scale", ctypes.c_double), ("eps", ctypes.c_double)]


class Tensor(ctypes.Structure):
    """mfjit_jax_tensor."""

    _fields_ = [("dtype", ctypes.c_int32), ("rank", ctypes.c_int32), ("dims", ctypes.c_int64 * capi.MF_MAX_RANK)]


def find_library(path: Optional[str | os.PathLike] = None) -> pathlib.Path:
    """Where libmfjit_jax.so is: `path` (a file or a folder holding it), else $MFJIT_JAX_LIBRARY,
    else beside libmfjit (an installed wheel's mfjit/lib/), else in the build tree that built
    libmfjit (<build>/python/xla_ffi/)."""
    for explicit, origin in ((path, "the path given"), (os.environ.get("MFJIT_JAX_LIBRARY"), "$MFJIT_JAX_LIBRARY")):
        if explicit:
            p = pathlib.Path(explicit).expanduser()
            if p.is_dir():
                p = p / LIBRARY_NAME
            if not p.is_file():
                raise FileNotFoundError(f"{origin} names {str(p)!r}, which is not a file")
            return p.resolve()
    core = capi.find_library()
    candidates = [core.parent / LIBRARY_NAME, core.parent.parent / "python" / "xla_ffi" / LIBRARY_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise FileNotFoundError(
        f"{LIBRARY_NAME} (mfjit's XLA FFI handlers) not found beside {core} (looked at "
        f"{', '.join(str(c) for c in candidates)}): it is built only when CMake's python3 imports jax — "
        f"pip install jax, configure the build again and build the target mfjit_jax, or set $MFJIT_JAX_LIBRARY")


class Library:
    """libmfjit_jax loaded (after the libmfjit it links, so that both share one), its handlers
    registered with XLA for the cpu and CUDA platforms."""

    def __init__(self):
        self.core = capi.load_library()
        self.path = find_library()
        self.lib = ctypes.CDLL(str(self.path))
        L = self.lib
        L.mfjit_jax_prepare.restype = ctypes.c_int32
        L.mfjit_jax_prepare.argtypes = [ctypes.c_char_p, ctypes.POINTER(Attributes), ctypes.POINTER(Tensor),
                                        ctypes.c_int32, ctypes.POINTER(ctypes.c_uint64), ctypes.c_char_p,
                                        ctypes.c_size_t]
        L.mfjit_jax_describe.restype = ctypes.c_int32
        L.mfjit_jax_describe.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
        L.mfjit_jax_forget_plans.restype = None
        L.mfjit_jax_forget_plans.argtypes = []
        for op in OPS:
            for direction in PASSES:
                name = target_name(op, direction)
                jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(L.mfjit_jax_cpu), platform="cpu")
                jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(L.mfjit_jax_cuda), platform="CUDA")

    def prepare(self, backend: str, attributes: Attributes, tensors, function: str) -> int:
        """The workspace bytes of the pass (its plan made and cached); raises the library's error."""
        workspace = ctypes.c_uint64()
        message = ctypes.create_string_buffer(4096)
        status = self.lib.mfjit_jax_prepare(backend.encode(), ctypes.byref(attributes), tensors, len(tensors),
                                            ctypes.byref(workspace), message, len(message))
        if status != capi.MF_SUCCESS:
            raise capi.error(function, status, self.core.status_name(status), message.value.decode(errors="replace"))
        return workspace.value

    def describe(self) -> str:
        required = ctypes.c_size_t()
        self.lib.mfjit_jax_describe(None, 0, ctypes.byref(required))
        while True:
            buffer = ctypes.create_string_buffer(required.value)
            status = self.lib.mfjit_jax_describe(buffer, len(buffer), ctypes.byref(required))
            if status == capi.MF_SUCCESS:
                return buffer.value.decode()
            if status != capi.MF_ERROR_BUFFER_TOO_SMALL:  # a plan was added meanwhile: try again
                raise capi.error("mfjit_jax_describe", status, self.core.status_name(status), "")

    def forget_plans(self) -> None:
        self.lib.mfjit_jax_forget_plans()


_lock = threading.Lock()
_library: Optional[Library] = None


def library() -> Library:
    global _library
    with _lock:
        if _library is None:
            _library = Library()
        return _library


def target_name(op: str, direction: int) -> str:
    return f"mfjit_{op}_{PASSES[direction]}"


def _mf_dtype(dtype) -> int:
    return capi._NUMPY_DTYPES[np.dtype(dtype).name]


def backend_of(arrays) -> str:
    """The mfjit backend of the platform the pass will run on: that of a concrete input array,
    else JAX's default backend (what a jit-compiled function runs on unless told otherwise)."""
    platform = None
    for x in arrays:
        if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer):
            try:
                platform = next(iter(x.devices())).platform
                break
            except Exception:  # a deleted or not yet committed array: look further
                continue
    if platform is None:
        platform = jax.default_backend()
    if platform == "cpu":
        return "cpu"
    if platform in ("gpu", "cuda"):
        return "cuda"
    raise NotImplementedError(f"mfjit.jax runs on the cpu and on CUDA GPUs, not on the {platform!r} platform")


@functools.lru_cache(maxsize=4096)
def _workspace(backend: str, op: str, direction: int, layout: int, dbias_mode: int, scale: float, eps: float,
               signature: tuple) -> int:
    attributes = Attributes(OPS[op], direction, layout, dbias_mode, scale, eps)
    tensors = (Tensor * len(signature))()
    for t, entry in zip(tensors, signature):
        if entry is not None:
            dtype, shape = entry
            t.dtype, t.rank = dtype, len(shape)
            for d, n in enumerate(shape):
                t.dims[d] = n
    return library().prepare(backend, attributes, tensors, f"mfjit.jax.{op}")


def forget_workspaces() -> None:
    _workspace.cache_clear()


def run(op: str, direction: int, inputs: dict, outputs: dict, *, layout: int = 0, dbias_mode: int = 0,
        scale: float = 0.0, eps: float = 0.0) -> dict:
    """One pass of `op`: inputs {field: array}, outputs {field: jax.ShapeDtypeStruct}, both
    named by the fields of the operator's C descriptor (None entries are absent). Returns
    {field: array} of the outputs."""
    fields = FIELDS[op]
    present = 0
    signature = []
    for i, name in enumerate(fields):
        x = inputs.get(name)
        if x is None:
            x = outputs.get(name)
        if x is None:
            signature.append(None)
            continue
        present |= 1 << i
        signature.append((_mf_dtype(x.dtype), tuple(int(n) for n in x.shape)))
    args = [inputs[name] for name in fields if inputs.get(name) is not None]
    out_names = [name for name in fields if outputs.get(name) is not None]
    backend = backend_of(args)
    workspace = _workspace(backend, op, direction, layout, dbias_mode, float(scale), float(eps), tuple(signature))
    results = [outputs[name] for name in out_names] + [jax.ShapeDtypeStruct((workspace,), np.uint8)]
    call = jax.ffi.ffi_call(target_name(op, direction), results, vmap_method="expand_dims")
    values = call(*args, op=np.int32(OPS[op]), direction=np.int32(direction), layout=np.int32(layout),
                  dbias_mode=np.int32(dbias_mode), scale=np.float64(scale), eps=np.float64(eps),
                  present=np.int64(present))
    return dict(zip(out_names, values[:-1]))
