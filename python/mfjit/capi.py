"""The ctypes binding of the mfjit C API (runtime/include/mfjit/mfjit.h): constants,
structures, the library, contexts, plans and tensor descriptors.

Imports neither torch nor numpy at module level, so it serves both (numpy arrays on the cpu
backend, torch tensors on any device). Every failing C call raises MfjitError carrying the
status name and mf_last_error()'s text; argument errors are also ValueErrors.
"""

from __future__ import annotations

import ctypes
import json
import os
import pathlib
import threading
import weakref
from typing import Any, Optional, Sequence

# ---- constants (mfjit.h) ------------------------------------------------------------------

MF_MAX_RANK = 8
MF_MAX_CPU_THREADS = 1024

# mf_status
MF_SUCCESS = 0
MF_ERROR_INVALID_ARGUMENT = 1
MF_ERROR_INVALID_HANDLE = 2
MF_ERROR_SHAPE_MISMATCH = 3
MF_ERROR_UNSUPPORTED = 4
MF_ERROR_OVERFLOW = 5
MF_ERROR_MISALIGNED = 6
MF_ERROR_CONTEXT_MISMATCH = 7
MF_ERROR_BACKEND_UNAVAILABLE = 8
MF_ERROR_DEVICE = 9
MF_ERROR_WORKSPACE = 10
MF_ERROR_BUFFER_TOO_SMALL = 11
MF_ERROR_OUT_OF_MEMORY = 12
MF_ERROR_INTERNAL = 13
MF_ERROR_COMPILE = 14

# mf_dtype
MF_DTYPE_NONE = 0
MF_DTYPE_BOOL = 1
MF_DTYPE_F16 = 2
MF_DTYPE_BF16 = 3
MF_DTYPE_F32 = 4
MF_DTYPE_F64 = 5

# mf_backend
MF_BACKEND_AUTO = 0
MF_BACKEND_CPU = 1
MF_BACKEND_CUDA = 2
MF_BACKEND_HIP = 3
BACKENDS = {"auto": MF_BACKEND_AUTO, "cpu": MF_BACKEND_CPU, "cuda": MF_BACKEND_CUDA, "hip": MF_BACKEND_HIP}
BACKEND_NAMES = {v: k for k, v in BACKENDS.items()}

# mf_direction
MF_FORWARD = 0
MF_BACKWARD = 1

# mf_mask_kind
MF_MASK_NONE = 0
MF_MASK_BOOLEAN = 1
MF_MASK_ADDITIVE = 2

# mf_dbias_mode
MF_DBIAS_DETERMINISTIC = 0
MF_DBIAS_FAST = 1
DBIAS_MODES = {"deterministic": MF_DBIAS_DETERMINISTIC, "fast": MF_DBIAS_FAST}

MF_EVO_GRAD_Q = 1
MF_EVO_GRAD_K = 2
MF_EVO_GRAD_V = 4
MF_EVO_GRAD_BIAS = 8
MF_LNL_GRAD_X, MF_LNL_GRAD_GAMMA, MF_LNL_GRAD_BETA, MF_LNL_GRAD_WEIGHT, MF_LNL_GRAD_BIAS = 1, 2, 4, 8, 16
MF_TRANSITION_GRAD_X, MF_TRANSITION_GRAD_GAMMA, MF_TRANSITION_GRAD_BETA = 1, 2, 4
MF_TRANSITION_GRAD_W1, MF_TRANSITION_GRAD_W2 = 8, 16

# C enums are int-sized on every ABI mfjit supports (the library reads them as int).
_c_enum = ctypes.c_int

# ---- structs (field order, types and array sizes exactly as in mfjit.h) -------------------


class TensorDesc(ctypes.Structure):
    """mf_tensor_desc. A zero-filled instance (dtype MF_DTYPE_NONE) is an absent tensor."""

    _fields_ = [
        ("dtype", _c_enum),
        ("rank", ctypes.c_int32),
        ("shape", ctypes.c_int64 * MF_MAX_RANK),
        ("strides", ctypes.c_int64 * MF_MAX_RANK),
    ]

    def __repr__(self) -> str:
        if self.dtype == MF_DTYPE_NONE:
            return "TensorDesc(absent)"
        r = self.rank
        return (f"TensorDesc(dtype={DTYPE_NAMES.get(self.dtype, self.dtype)}, shape={list(self.shape[:r])}, "
                f"strides={list(self.strides[:r])})")

    def key(self) -> tuple:
        """A hashable value identifying the descriptor (for plan caches)."""
        if self.dtype == MF_DTYPE_NONE:
            return (MF_DTYPE_NONE,)
        r = self.rank
        return (self.dtype, tuple(self.shape[:r]), tuple(self.strides[:r]))


class ContextOptions(ctypes.Structure):
    """mf_context_options."""

    _fields_ = [
        ("backend", _c_enum),
        ("device", ctypes.c_int32),
        ("cpu_threads", ctypes.c_int32),
        ("cache_dir", ctypes.c_char_p),
        ("db_path", ctypes.c_char_p),
    ]


class DeviceInfo(ctypes.Structure):
    """mf_device_info."""

    _fields_ = [
        ("name", ctypes.c_char * 256),
        ("arch", ctypes.c_char * 32),
        ("multiprocessors", ctypes.c_int32),
        ("memory_bytes", ctypes.c_int64),
        ("l2_cache_bytes", ctypes.c_int64),
        ("driver_version", ctypes.c_int32),
    ]

    def as_dict(self) -> dict:
        return {
            "name": self.name.decode(errors="replace"),
            "arch": self.arch.decode(errors="replace"),
            "multiprocessors": self.multiprocessors,
            "memory_bytes": self.memory_bytes,
            "l2_cache_bytes": self.l2_cache_bytes,
            "driver_version": self.driver_version,
        }


class EvoAttentionDesc(ctypes.Structure):
    """mf_evo_attention_desc."""

    _fields_ = [
        ("q", TensorDesc),
        ("k", TensorDesc),
        ("v", TensorDesc),
        ("bias", TensorDesc),
        ("mask", TensorDesc),
        ("o", TensorDesc),
        ("lse", TensorDesc),
        ("mask_kind", _c_enum),
        ("scale", ctypes.c_double),
        ("d_o", TensorDesc),
        ("d_q", TensorDesc),
        ("d_k", TensorDesc),
        ("d_v", TensorDesc),
        ("d_bias", TensorDesc),
        ("gradients", ctypes.c_uint32),
        ("dbias_mode", _c_enum),
    ]


class EvoAttentionArgs(ctypes.Structure):
    """mf_evo_attention_args (every pointer as void*; `lse` is float* in C, same ABI)."""

    _fields_ = [
        ("q", ctypes.c_void_p),
        ("k", ctypes.c_void_p),
        ("v", ctypes.c_void_p),
        ("bias", ctypes.c_void_p),
        ("mask", ctypes.c_void_p),
        ("o", ctypes.c_void_p),
        ("lse", ctypes.c_void_p),
        ("d_o", ctypes.c_void_p),
        ("d_q", ctypes.c_void_p),
        ("d_k", ctypes.c_void_p),
        ("d_v", ctypes.c_void_p),
        ("d_bias", ctypes.c_void_p),
    ]


class LayerNormLinearDesc(ctypes.Structure):
    """mf_layer_norm_linear_desc."""

    _fields_ = [(name, TensorDesc) for name in ("x", "gamma", "beta", "weight", "bias", "y", "mean", "rstd")] + [
        ("eps", ctypes.c_double)] + [(name, TensorDesc) for name in (
            "d_y", "d_x", "d_gamma", "d_beta", "d_weight", "d_bias")] + [("gradients", ctypes.c_uint32)]


# Fields of mf_layer_norm_linear_args, in header order (every pointer as void*).
LNL_TENSORS = ("x", "gamma", "beta", "weight", "bias", "y", "mean", "rstd", "d_y", "d_x", "d_gamma", "d_beta",
               "d_weight", "d_bias")


class LayerNormLinearArgs(ctypes.Structure):
    """mf_layer_norm_linear_args."""

    _fields_ = [(name, ctypes.c_void_p) for name in LNL_TENSORS]


class TransitionDesc(ctypes.Structure):
    """mf_transition_desc."""

    _fields_ = [(name, TensorDesc) for name in ("x", "gamma", "beta", "w1", "w2", "y", "mean", "rstd")] + [
        ("eps", ctypes.c_double)] + [(name, TensorDesc) for name in (
            "d_y", "d_x", "d_gamma", "d_beta", "d_w1", "d_w2")] + [("gradients", ctypes.c_uint32)]


# Fields of mf_transition_args, in header order (every pointer as void*).
TRANSITION_TENSORS = ("x", "gamma", "beta", "w1", "w2", "y", "mean", "rstd", "d_y", "d_x", "d_gamma", "d_beta",
                      "d_w1", "d_w2")


class TransitionArgs(ctypes.Structure):
    """mf_transition_args."""

    _fields_ = [(name, ctypes.c_void_p) for name in TRANSITION_TENSORS]


# Fields of mf_evo_attention_desc / _args that are tensors, in header order.
EVO_TENSORS = ("q", "k", "v", "bias", "mask", "o", "lse", "d_o", "d_q", "d_k", "d_v", "d_bias")

# ---- errors -------------------------------------------------------------------------------


class MfjitError(RuntimeError):
    """A failed mfjit call: .status (int), .status_name ("MF_ERROR_SHAPE_MISMATCH"),
    .message (mf_last_error()) and .function (the C function)."""

    def __init__(self, function: str, status: int, status_name: str, message: str):
        self.function = function
        self.status = status
        self.status_name = status_name
        self.message = message
        super().__init__(f"{function}: {status_name}: {message}" if message else f"{function}: {status_name}")


class MfjitArgumentError(MfjitError, ValueError):
    """A call the library refused for its arguments (invalid argument, shape mismatch,
    misalignment, mixed contexts): the caller's to fix, so it is a ValueError as well."""


_ARGUMENT_STATUSES = {MF_ERROR_INVALID_ARGUMENT, MF_ERROR_SHAPE_MISMATCH, MF_ERROR_MISALIGNED,
                      MF_ERROR_CONTEXT_MISMATCH}


def error(function: str, status: int, status_name: str, message: str) -> MfjitError:
    """The exception for a failed call: MfjitArgumentError for the caller's mistakes."""
    kind = MfjitArgumentError if status in _ARGUMENT_STATUSES else MfjitError
    return kind(function, status, status_name, message)


# ---- the library --------------------------------------------------------------------------

_LIBRARY_NAME = "libmfjit.so"


def find_library(path: Optional[str | os.PathLike] = None) -> pathlib.Path:
    """Where libmfjit.so is: `path` if given (a file, or a folder holding it), else
    $MFJIT_LIBRARY, else the copy an installed wheel bundles (mfjit/lib/), else
    build/*/runtime/libmfjit.so in a folder above this file (build/release first, then the
    most recently built): so the package works installed and from a source tree."""
    for explicit, origin in ((path, "the path given"), (os.environ.get("MFJIT_LIBRARY"), "$MFJIT_LIBRARY")):
        if explicit:
            p = pathlib.Path(explicit).expanduser()
            if p.is_dir():
                p = p / _LIBRARY_NAME
            if not p.is_file():
                raise FileNotFoundError(f"{origin} names {str(p)!r}, which is not a file")
            return p.resolve()
    here = pathlib.Path(__file__).resolve().parent
    bundled = here / "lib" / _LIBRARY_NAME
    if bundled.is_file():
        return bundled
    searched = [str(bundled)]
    for folder in here.parents:
        build = folder / "build"
        searched.append(str(build))
        if not build.is_dir():
            continue
        release = build / "release" / "runtime" / _LIBRARY_NAME
        if release.is_file():
            return release.resolve()
        found = sorted(build.glob(f"*/runtime/{_LIBRARY_NAME}"), key=lambda p: p.stat().st_mtime, reverse=True)
        if found:
            return found[0].resolve()
    raise FileNotFoundError(
        f"{_LIBRARY_NAME} not found: pass its path, set $MFJIT_LIBRARY, install the mfjit wheel, or build it "
        f"into build/<preset>/runtime/ (searched {', '.join(searched)})")


def find_tool(name: str, library: pathlib.Path) -> pathlib.Path:
    """A command-line tool of mfjit (mf-tune, mf-db) that belongs with `library`: beside it in
    an installed wheel (mfjit/bin/), or in the build tree that built it (tools/<name>/)."""
    for candidate in (library.parent.parent / "bin" / name, library.parent.parent / "tools" / name / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(f"{name} not found beside {library} (looked in ../bin and ../tools/{name})")


def run_mf_tune(caller: str, library: pathlib.Path, backend: str, device: int, database: str, strategy: str,
                trials: Optional[int], seconds: Optional[float], retune: bool, quiet: bool) -> None:
    """mf-tune --untuned over the misses `database` recorded for one backend and device, as
    mfjit.tune() and mfjit.jax.tune() run it; raises RuntimeError (named after `caller`)
    with the tool's output when it fails."""
    import subprocess

    command = [str(find_tool("mf-tune", library)), "--untuned", "--backend", backend, "--device", str(device),
               "--db", database, "--strategy", strategy]
    if trials is not None:
        command += ["--trials", str(int(trials))]
    if seconds is not None:
        command += ["--seconds", str(float(seconds))]
    if retune:
        command.append("--retune")
    done = subprocess.run(command, capture_output=quiet, text=True)
    if done.returncode != 0:
        output = (done.stdout or "") + (done.stderr or "")
        raise RuntimeError(f"{caller}: {' '.join(command)} exited with {done.returncode}\n{output}")


class Library:
    """libmfjit.so loaded with the prototypes of the functions this binding uses."""

    def __init__(self, path: Optional[str | os.PathLike] = None):
        self.path = find_library(path)
        self.lib = ctypes.CDLL(str(self.path))
        L = self.lib
        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        proto = {
            "mf_status_string": (ctypes.c_char_p, [_c_enum]),
            "mf_last_error": (ctypes.c_char_p, []),
            "mf_version": (None, [ctypes.POINTER(ctypes.c_int)] * 3),
            "mf_version_string": (ctypes.c_char_p, []),
            "mf_tensor_desc_contiguous": (_c_enum, [ctypes.POINTER(TensorDesc), _c_enum, ctypes.c_int32,
                                                    ctypes.POINTER(ctypes.c_int64)]),
            "mf_context_options_init": (None, [ctypes.POINTER(ContextOptions)]),
            "mf_context_create": (_c_enum, [ctypes.POINTER(ContextOptions), ctypes.POINTER(vp)]),
            "mf_context_destroy": (_c_enum, [vp]),
            "mf_context_backend": (_c_enum, [vp, ctypes.POINTER(_c_enum)]),
            "mf_device_count": (_c_enum, [_c_enum, ctypes.POINTER(ctypes.c_int32)]),
            "mf_device_get_info": (_c_enum, [_c_enum, ctypes.c_int32, ctypes.POINTER(DeviceInfo)]),
            "mf_context_device_info": (_c_enum, [vp, ctypes.POINTER(DeviceInfo)]),
            "mf_plan_workspace_size": (_c_enum, [vp, ctypes.POINTER(sz)]),
            "mf_plan_describe": (_c_enum, [vp, ctypes.c_char_p, sz, ctypes.POINTER(sz)]),
            "mf_plan_destroy": (_c_enum, [vp]),
            "mf_evo_attention_plan_create": (_c_enum, [vp, ctypes.POINTER(EvoAttentionDesc), _c_enum,
                                                       ctypes.POINTER(vp)]),
            "mf_evo_attention_execute": (_c_enum, [vp, vp, ctypes.POINTER(EvoAttentionArgs), vp, sz, vp]),
            "mf_layer_norm_linear_plan_create": (_c_enum, [vp, ctypes.POINTER(LayerNormLinearDesc), _c_enum,
                                                           ctypes.POINTER(vp)]),
            "mf_layer_norm_linear_execute": (_c_enum, [vp, vp, ctypes.POINTER(LayerNormLinearArgs), vp, sz, vp]),
            "mf_transition_plan_create": (_c_enum, [vp, ctypes.POINTER(TransitionDesc), _c_enum, ctypes.POINTER(vp)]),
            "mf_transition_execute": (_c_enum, [vp, vp, ctypes.POINTER(TransitionArgs), vp, sz, vp]),
        }
        for name, (restype, argtypes) in proto.items():
            fn = getattr(L, name)
            fn.restype, fn.argtypes = restype, argtypes

    def status_name(self, status: int) -> str:
        return self.lib.mf_status_string(status).decode()

    def last_error(self) -> str:
        return self.lib.mf_last_error().decode(errors="replace")

    def call(self, name: str, *args) -> None:
        """Calls an mf_status-returning function; raises MfjitError on failure."""
        status = getattr(self.lib, name)(*args)
        if status != MF_SUCCESS:
            message = self.last_error()  # read first: valid only until the next mfjit call
            raise error(name, status, self.status_name(status), message)

    def version(self) -> str:
        return self.lib.mf_version_string().decode()

    def device_count(self, backend: str | int) -> int:
        count = ctypes.c_int32()
        self.call("mf_device_count", _backend_value(backend), ctypes.byref(count))
        return count.value

    def device_info(self, backend: str | int, ordinal: int = 0) -> dict:
        info = DeviceInfo()
        self.call("mf_device_get_info", _backend_value(backend), ordinal, ctypes.byref(info))
        return info.as_dict()


_library_lock = threading.Lock()
_libraries: dict[pathlib.Path, Library] = {}


def load_library(path: Optional[str | os.PathLike] = None) -> Library:
    """The Library at find_library(path), loaded once per process."""
    resolved = find_library(path)
    with _library_lock:
        if resolved not in _libraries:
            _libraries[resolved] = Library(resolved)
        return _libraries[resolved]


def _backend_value(backend: str | int) -> int:
    if isinstance(backend, str):
        try:
            return BACKENDS[backend]
        except KeyError:
            raise ValueError(f"backend {backend!r}: use one of {sorted(BACKENDS)}") from None
    return int(backend)


# ---- contexts and plans -------------------------------------------------------------------


class Context:
    """An mf_context. Destroys its live plans first when closed."""

    def __init__(self, backend: str | int = "auto", device: int = 0, cpu_threads: int = 0,
                 cache_dir: Optional[str] = None, db_path: Optional[str] = None,
                 library: Optional[Library | str | os.PathLike] = None):
        self.library = library if isinstance(library, Library) else load_library(library)
        options = ContextOptions()
        self.library.lib.mf_context_options_init(ctypes.byref(options))
        options.backend = _backend_value(backend)
        options.device = device
        options.cpu_threads = cpu_threads
        options.cache_dir = os.fsencode(cache_dir) if cache_dir is not None else None
        options.db_path = os.fsencode(db_path) if db_path is not None else None
        handle = ctypes.c_void_p()
        self.library.call("mf_context_create", ctypes.byref(options), ctypes.byref(handle))
        self.handle = handle
        self._plans: "weakref.WeakSet[Plan]" = weakref.WeakSet()
        b = _c_enum()
        self.library.call("mf_context_backend", self.handle, ctypes.byref(b))
        self.backend = BACKEND_NAMES.get(b.value, str(b.value))
        self.device = device

    def device_info(self) -> dict:
        info = DeviceInfo()
        self.library.call("mf_context_device_info", self.handle, ctypes.byref(info))
        return info.as_dict()

    def evo_attention_plan(self, desc: EvoAttentionDesc, direction: int) -> "Plan":
        handle = ctypes.c_void_p()
        self.library.call("mf_evo_attention_plan_create", self.handle, ctypes.byref(desc), direction,
                          ctypes.byref(handle))
        plan = Plan(self, handle, "evo_attention")
        self._plans.add(plan)
        return plan

    def layer_norm_linear_plan(self, desc: LayerNormLinearDesc, direction: int) -> "Plan":
        return self.operator_plan("layer_norm_linear", desc, direction)

    def transition_plan(self, desc: TransitionDesc, direction: int) -> "Plan":
        return self.operator_plan("transition", desc, direction)

    def operator_plan(self, op: str, desc, direction: int) -> "Plan":
        """A plan of mf_<op>_plan_create for desc (the operator's descriptor structure)."""
        handle = ctypes.c_void_p()
        self.library.call(f"mf_{op}_plan_create", self.handle, ctypes.byref(desc), direction, ctypes.byref(handle))
        plan = Plan(self, handle, op)
        self._plans.add(plan)
        return plan

    def close(self) -> None:
        if self.handle:
            for plan in list(self._plans):
                plan.destroy()
            self.library.call("mf_context_destroy", self.handle)
            self.handle = ctypes.c_void_p()

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Plan:
    """An mf_plan. Keeps its context alive."""

    def __init__(self, context: Context, handle: ctypes.c_void_p, op: str):
        self.context = context
        self.handle = handle
        self.op = op
        size = ctypes.c_size_t()
        context.library.call("mf_plan_workspace_size", handle, ctypes.byref(size))
        self.workspace_size = size.value

    def describe(self) -> dict:
        """mf_plan_describe's JSON, parsed."""
        lib = self.context.library
        required = ctypes.c_size_t()
        status = lib.lib.mf_plan_describe(self.handle, None, 0, ctypes.byref(required))
        if status not in (MF_SUCCESS, MF_ERROR_BUFFER_TOO_SMALL):
            raise error("mf_plan_describe", status, lib.status_name(status), lib.last_error())
        buffer = ctypes.create_string_buffer(required.value)
        lib.call("mf_plan_describe", self.handle, buffer, required.value, ctypes.byref(required))
        return json.loads(buffer.value.decode())

    def destroy(self) -> None:
        if self.handle:
            self.context.library.call("mf_plan_destroy", self.handle)
            self.handle = ctypes.c_void_p()

    def __del__(self) -> None:
        try:
            self.destroy()
        except Exception:
            pass


# ---- tensors ------------------------------------------------------------------------------

DTYPE_NAMES = {MF_DTYPE_NONE: "none", MF_DTYPE_BOOL: "bool", MF_DTYPE_F16: "f16", MF_DTYPE_BF16: "bf16",
               MF_DTYPE_F32: "f32", MF_DTYPE_F64: "f64"}
# torch dtypes by str(dtype), numpy (and ml_dtypes) dtypes by dtype.name.
_TORCH_DTYPES = {"torch.bool": MF_DTYPE_BOOL, "torch.float16": MF_DTYPE_F16, "torch.bfloat16": MF_DTYPE_BF16,
                 "torch.float32": MF_DTYPE_F32, "torch.float64": MF_DTYPE_F64}
_NUMPY_DTYPES = {"bool": MF_DTYPE_BOOL, "float16": MF_DTYPE_F16, "bfloat16": MF_DTYPE_BF16,
                 "float32": MF_DTYPE_F32, "float64": MF_DTYPE_F64}


def tensor_desc(dtype: int | str, shape: Sequence[int], strides: Optional[Sequence[int]] = None) -> TensorDesc:
    """An mf_tensor_desc; strides in elements (row-major contiguous when omitted)."""
    if isinstance(dtype, str):
        dtype = {v: k for k, v in DTYPE_NAMES.items()}[dtype]
    shape = [int(s) for s in shape]
    if not 1 <= len(shape) <= MF_MAX_RANK:
        raise ValueError(f"rank {len(shape)} is outside 1..{MF_MAX_RANK}")
    if strides is None:
        strides, step = [0] * len(shape), 1
        for d in reversed(range(len(shape))):
            strides[d], step = step, step * shape[d]
    strides = [int(s) for s in strides]
    if len(strides) != len(shape):
        raise ValueError(f"{len(strides)} strides for {len(shape)} dimensions")
    desc = TensorDesc()
    desc.dtype, desc.rank = dtype, len(shape)
    for d, (n, s) in enumerate(zip(shape, strides)):
        desc.shape[d], desc.strides[d] = n, s
    return desc


def absent() -> TensorDesc:
    return TensorDesc()


def is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def torch_desc(t) -> tuple[TensorDesc, int]:
    """(descriptor, data pointer) of a torch tensor (strides are already in elements)."""
    try:
        dtype = _TORCH_DTYPES[str(t.dtype)]
    except KeyError:
        raise TypeError(f"mfjit has no dtype for {t.dtype}") from None
    return tensor_desc(dtype, tuple(t.shape), t.stride()), t.data_ptr()


def numpy_desc(a) -> tuple[TensorDesc, int]:
    """(descriptor, data pointer) of a numpy array (byte strides converted to elements)."""
    try:
        dtype = _NUMPY_DTYPES[a.dtype.name]
    except KeyError:
        raise TypeError(f"mfjit has no dtype for numpy {a.dtype}") from None
    item = a.dtype.itemsize
    if any(s % item for s in a.strides):
        raise ValueError(f"numpy strides {a.strides} are not multiples of the element size {item}")
    return tensor_desc(dtype, a.shape, [s // item for s in a.strides]), a.ctypes.data


def array_desc(x) -> tuple[TensorDesc, Optional[int]]:
    """(descriptor, pointer) of a torch tensor or numpy array; (absent, None) for None."""
    if x is None:
        return absent(), None
    return torch_desc(x) if is_torch(x) else numpy_desc(x)


