"""A minimal ctypes binding of the mfjit C API (runtime/include/mfjit/mfjit.h), private to bench/.

Only what the EvoAttention benchmark needs: contexts, EvoAttention plans (forward and
backward), workspace size, execute, describe, and the error text. The real Python package
(python/, with PyTorch custom ops) comes later; this file imports neither torch nor numpy at
module level, so it works with either (numpy for the cpu backend, torch on a GPU).

Every failing C call raises MfjitError carrying the status name and mf_last_error()'s text.
"""

from __future__ import annotations

import ctypes
import json
import os
import pathlib
import threading
import weakref
from typing import Any, Iterable, Optional, Sequence

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


# ---- the library --------------------------------------------------------------------------

_LIBRARY_NAME = "libmfjit.so"


def find_library(path: Optional[str | os.PathLike] = None) -> pathlib.Path:
    """Where libmfjit.so is: `path` if given (a file, or a folder holding it), else
    $MFJIT_LIBRARY, else build/*/runtime/libmfjit.so in bench/'s folder or one above it
    (build/release first, then the most recently built)."""
    for explicit, origin in ((path, "the path given"), (os.environ.get("MFJIT_LIBRARY"), "$MFJIT_LIBRARY")):
        if explicit:
            p = pathlib.Path(explicit).expanduser()
            if p.is_dir():
                p = p / _LIBRARY_NAME
            if not p.is_file():
                raise FileNotFoundError(f"{origin} names {str(p)!r}, which is not a file")
            return p.resolve()
    here = pathlib.Path(__file__).resolve().parent
    searched = []
    for folder in (here, *here.parents):
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
        f"{_LIBRARY_NAME} not found: pass its path, set $MFJIT_LIBRARY, or build it into build/<preset>/runtime/ "
        f"(searched {', '.join(searched)})")


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
            raise MfjitError(name, status, self.status_name(status), message)

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
            raise MfjitError("mf_plan_describe", status, lib.status_name(status), lib.last_error())
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


# ---- EvoAttention -------------------------------------------------------------------------


class EvoAttention:
    """EvoAttention (DESIGN.md §1.1) through the C API, for torch tensors (any device the
    library has a backend for) or numpy arrays (the cpu backend).

    Layouts: q, k, v, o [B, S, N, H, D]; bias broadcastable to [B, S, H, N, N] (rank 5);
    mask rank 5 broadcast to [B, S, 1, 1, N], boolean (True keeps the key) or additive
    (floating); lse [B, S, H, N] f32. Plans are cached per (direction, gradients, scale,
    dbias mode, every descriptor's dtype/shape/strides); one workspace per device is grown
    to the largest plan's need and reused. CUDA executions go on torch's current stream.
    """

    def __init__(self, scale: float = 0.0, dbias_mode: str = "deterministic",
                 library: Optional[Library | str | os.PathLike] = None, cpu_threads: int = 0,
                 cache_dir: Optional[str] = None, db_path: Optional[str] = None):
        if dbias_mode not in DBIAS_MODES:
            raise ValueError(f"dbias_mode {dbias_mode!r}: use one of {sorted(DBIAS_MODES)}")
        self.scale = float(scale)
        self.dbias_mode = dbias_mode
        self.library = library if isinstance(library, Library) else load_library(library)
        self._context_options = dict(cpu_threads=cpu_threads, cache_dir=cache_dir, db_path=db_path)
        self._contexts: dict[tuple, Context] = {}
        self._plans: dict[tuple, Plan] = {}
        self._by_signature: dict[tuple, Plan] = {}  # tensor signatures -> plan: the per-call fast path
        self._workspaces: dict[tuple, Any] = {}
        self.last_plans: dict[str, Plan] = {}  # "forward"/"backward": the plan of the latest call

    # -- plumbing --

    @staticmethod
    def _device_key(x) -> tuple:
        if is_torch(x) and x.device.type == "cuda":
            return ("cuda", x.device.index if x.device.index is not None else 0)
        if is_torch(x) and x.device.type != "cpu":
            raise ValueError(f"mfjit_ctypes has no backend for torch device {x.device}")
        return ("cpu", 0)

    def context(self, device_key: tuple) -> Context:
        if device_key not in self._contexts:
            backend, ordinal = device_key
            self._contexts[device_key] = Context(backend, ordinal, library=self.library, **self._context_options)
        return self._contexts[device_key]

    def plan(self, desc: EvoAttentionDesc, direction: int, device_key: tuple) -> Plan:
        key = (device_key, direction, desc.gradients if direction == MF_BACKWARD else 0, desc.mask_kind, desc.scale,
               desc.dbias_mode if direction == MF_BACKWARD else 0,
               tuple(getattr(desc, name).key() for name in EVO_TENSORS))
        plan = self._plans.get(key)
        if plan is None:
            plan = self.context(device_key).evo_attention_plan(desc, direction)
            self._plans[key] = plan
        return plan

    def plans(self) -> list[Plan]:
        return list(self._plans.values())

    def _workspace(self, plan: Plan, device_key: tuple, like) -> tuple[Optional[int], int]:
        need = plan.workspace_size
        if need == 0:
            return None, 0
        buffer = self._workspaces.get(device_key)
        size = 0 if buffer is None else (buffer.numel() if is_torch(buffer) else buffer.nbytes)
        if size < need:
            if is_torch(like):
                import torch
                buffer = torch.empty(need, dtype=torch.uint8, device=like.device)
            else:
                import numpy as np
                buffer = np.empty(need, dtype=np.uint8)
            self._workspaces[device_key] = buffer
            size = need
        ptr = buffer.data_ptr() if is_torch(buffer) else buffer.ctypes.data
        return ptr, size

    def last_workspace_bytes(self) -> int:
        """The workspace the latest forward and backward need (they share one buffer)."""
        return max((plan.workspace_size for plan in self.last_plans.values()), default=0)

    def workspace_bytes(self) -> int:
        """Bytes held by the workspaces (grown to the largest plan seen)."""
        return sum(b.numel() if is_torch(b) else b.nbytes for b in self._workspaces.values())

    @staticmethod
    def _stream(device_key: tuple) -> Optional[int]:
        if device_key[0] != "cuda":
            return None
        import torch
        return torch.cuda.current_stream(device_key[1]).cuda_stream

    @staticmethod
    def _empty(like, shape, dtype=None):
        if is_torch(like):
            import torch
            return torch.empty(tuple(shape), dtype=dtype or like.dtype, device=like.device)
        import numpy as np
        return np.empty(tuple(shape), dtype=dtype or like.dtype)

    @staticmethod
    def _f32(like):
        if is_torch(like):
            import torch
            return torch.float32
        import numpy as np
        return np.float32

    @staticmethod
    def _mask_kind(mask) -> int:
        if mask is None:
            return MF_MASK_NONE
        is_bool = (str(mask.dtype) == "torch.bool") if is_torch(mask) else (mask.dtype.name == "bool")
        return MF_MASK_BOOLEAN if is_bool else MF_MASK_ADDITIVE

    def _desc_and_args(self, tensors: dict, mask_kind: int) -> tuple[EvoAttentionDesc, EvoAttentionArgs]:
        desc, args = EvoAttentionDesc(), EvoAttentionArgs()
        for name in EVO_TENSORS:
            d, ptr = array_desc(tensors.get(name))
            setattr(desc, name, d)
            setattr(args, name, ptr)
        desc.mask_kind = mask_kind
        desc.scale = self.scale
        desc.dbias_mode = DBIAS_MODES[self.dbias_mode]
        return desc, args

    @staticmethod
    def _signature(tensors: dict) -> tuple:
        """What a plan depends on of the tensors (dtype, shape, strides), cheap to compute."""
        out = []
        for name in EVO_TENSORS:
            x = tensors.get(name)
            if x is None:
                out.append(None)
            elif is_torch(x):
                out.append((x.dtype, x.device, tuple(x.shape), x.stride()))
            else:
                out.append((x.dtype.str, x.shape, x.strides))
        return tuple(out)

    @staticmethod
    def _pointers(tensors: dict) -> EvoAttentionArgs:
        ptrs = []
        for name in EVO_TENSORS:
            x = tensors.get(name)
            ptrs.append(None if x is None else (x.data_ptr() if is_torch(x) else x.ctypes.data))
        return EvoAttentionArgs(*ptrs)

    def _plan_for(self, tensors: dict, direction: int, gradients: int, device_key: tuple) -> Plan:
        """The plan for these tensors: by signature when seen before (no descriptor is built
        and nothing is looked up in the library), else through the descriptor."""
        signature = (direction, gradients, self._signature(tensors))
        plan = self._by_signature.get(signature)
        if plan is None:
            desc, _ = self._desc_and_args(tensors, self._mask_kind(tensors.get("mask")))
            desc.gradients = gradients
            plan = self.plan(desc, direction, device_key)
            self._by_signature[signature] = plan
        return plan

    def _execute(self, plan: Plan, args: EvoAttentionArgs, device_key: tuple, like) -> None:
        workspace, size = self._workspace(plan, device_key, like)
        self.library.call("mf_evo_attention_execute", plan.context.handle, plan.handle, ctypes.byref(args),
                          workspace, size, self._stream(device_key))

    # -- the operator --

    def forward(self, q, k, v, bias=None, mask=None, o=None, lse=None, save_lse: bool = True):
        """O (and LSE when save_lse or lse is given). Returns (o, lse or None)."""
        B, S, N, H, D = q.shape
        if o is None:
            o = self._empty(q, q.shape)
        if lse is None and save_lse:
            lse = self._empty(q, (B, S, H, N), self._f32(q))
        device_key = self._device_key(q)
        tensors = dict(q=q, k=k, v=v, bias=bias, mask=mask, o=o, lse=lse)
        plan = self._plan_for(tensors, MF_FORWARD, 0, device_key)
        self.last_plans["forward"] = plan
        self._execute(plan, self._pointers(tensors), device_key, q)
        return o, lse

    def backward(self, q, k, v, o, lse, d_o, bias=None, mask=None, gradients: Optional[Iterable[str]] = None,
                 d_q=None, d_k=None, d_v=None, d_bias=None):
        """The gradients named in `gradients` (any of "q", "k", "v", "bias"; default: every
        one whose primal exists), allocated like their primal unless given.
        Returns (d_q, d_k, d_v, d_bias) with None for those not computed."""
        wanted = set(gradients) if gradients is not None else {"q", "k", "v"} | ({"bias"} if bias is not None else set())
        unknown = wanted - {"q", "k", "v", "bias"}
        if unknown:
            raise ValueError(f"unknown gradients {sorted(unknown)}")
        bits = 0
        out = {}
        for name, bit, primal, given in (("q", MF_EVO_GRAD_Q, q, d_q), ("k", MF_EVO_GRAD_K, k, d_k),
                                         ("v", MF_EVO_GRAD_V, v, d_v), ("bias", MF_EVO_GRAD_BIAS, bias, d_bias)):
            if name in wanted:
                bits |= bit
                out["d_" + name] = given if given is not None or primal is None else self._empty(primal, primal.shape)
        device_key = self._device_key(q)
        tensors = dict(q=q, k=k, v=v, bias=bias, mask=mask, o=o, lse=lse, d_o=d_o, **out)
        plan = self._plan_for(tensors, MF_BACKWARD, bits, device_key)
        self.last_plans["backward"] = plan
        self._execute(plan, self._pointers(tensors), device_key, q)
        return tuple(out.get(n) for n in ("d_q", "d_k", "d_v", "d_bias"))

    def close(self) -> None:
        self._plans.clear()
        self._by_signature.clear()
        self.last_plans.clear()
        for context in self._contexts.values():
            context.close()
        self._contexts.clear()
        self._workspaces.clear()


# ---- LayerNormLinear and Transition ----------------------------------------------------------


class _RowOperator:
    """What LayerNormLinear and Transition share: torch tensors on one device, plans cached
    per tensor signature, executions on torch's current stream, one workspace per device
    grown to the largest plan's need. Subclasses name the C API's operator and structures."""

    OP = ""
    TENSORS: tuple = ()
    DESC: type = ctypes.Structure
    ARGS: type = ctypes.Structure

    def __init__(self, eps: float = 1e-5, library: Optional[Library | str | os.PathLike] = None,
                 cache_dir: Optional[str] = None, db_path: Optional[str] = None):
        self.eps = float(eps)
        self.library = library if isinstance(library, Library) else load_library(library)
        self._options = dict(cache_dir=cache_dir, db_path=db_path)
        self._contexts: dict[tuple, Context] = {}
        self._plans: dict[tuple, Plan] = {}
        self._workspaces: dict[tuple, Any] = {}
        self.last_plans: dict[str, Plan] = {}

    @staticmethod
    def _device_key(x) -> tuple:
        return ("cuda", x.device.index or 0) if x.device.type == "cuda" else ("cpu", 0)

    def _run(self, tensors: dict, direction: int, gradients: int, like) -> None:
        import torch
        device_key = self._device_key(like)
        signature = (direction, gradients, tuple(None if tensors.get(k) is None else
                                                 (tensors[k].dtype, tuple(tensors[k].shape), tensors[k].stride())
                                                 for k in self.TENSORS))
        plan = self._plans.get((device_key, signature))
        if plan is None:
            desc = self.DESC()
            for name, t in tensors.items():
                setattr(desc, name, array_desc(t)[0])
            desc.eps = self.eps
            desc.gradients = gradients
            if device_key not in self._contexts:
                self._contexts[device_key] = Context(device_key[0], device_key[1], library=self.library,
                                                     **self._options)
            plan = self._contexts[device_key].operator_plan(self.OP, desc, direction)
            self._plans[(device_key, signature)] = plan
        self.last_plans["forward" if direction == MF_FORWARD else "backward"] = plan
        workspace, size = None, plan.workspace_size
        if size:
            buffer = self._workspaces.get(device_key)
            if buffer is None or buffer.numel() < size:
                buffer = self._workspaces[device_key] = torch.empty(size, dtype=torch.uint8, device=like.device)
            workspace = buffer.data_ptr()
        args = self.ARGS(*[None if tensors.get(k) is None else tensors[k].data_ptr() for k in self.TENSORS])
        stream = torch.cuda.current_stream(device_key[1]).cuda_stream if device_key[0] == "cuda" else None
        self.library.call(f"mf_{self.OP}_execute", plan.context.handle, plan.handle, ctypes.byref(args),
                          workspace, size, stream)

    def close(self) -> None:
        self._plans.clear()
        self.last_plans.clear()
        for context in self._contexts.values():
            context.close()
        self._contexts.clear()
        self._workspaces.clear()


class LayerNormLinear(_RowOperator):
    """LayerNormLinear (DESIGN.md §1.2) through the C API:
    y = LN(x; gamma, beta, eps) @ weight + bias, weight given as the logical [K, N] (for an
    nn.Linear weight w of shape [N, K], pass w.t(): no copy)."""

    OP, TENSORS, DESC, ARGS = "layer_norm_linear", LNL_TENSORS, LayerNormLinearDesc, LayerNormLinearArgs

    def forward(self, x, gamma, weight, beta=None, bias=None, save_stats: bool = True):
        """Returns (y, mean, rstd); mean and rstd are None unless save_stats."""
        import torch
        m, n = x.shape[0], weight.shape[1]
        y = torch.empty((m, n), dtype=x.dtype, device=x.device)
        mean = torch.empty(m, dtype=torch.float32, device=x.device) if save_stats else None
        rstd = torch.empty(m, dtype=torch.float32, device=x.device) if save_stats else None
        self._run(dict(x=x, gamma=gamma, beta=beta, weight=weight, bias=bias, y=y, mean=mean, rstd=rstd),
                  MF_FORWARD, 0, x)
        return y, mean, rstd

    def backward(self, x, gamma, weight, mean, rstd, d_y, beta=None, bias=None):
        """Every gradient whose primal exists: (d_x, d_gamma, d_beta, d_weight, d_bias), each
        laid out like its primal (d_weight like the [K, N] view given), None where absent."""
        import torch
        grads = dict(d_x=torch.empty_like(x), d_gamma=torch.empty_like(gamma),
                     d_beta=None if beta is None else torch.empty_like(beta),
                     d_weight=torch.empty_strided(weight.shape, weight.stride(), dtype=weight.dtype,
                                                  device=weight.device),
                     d_bias=None if bias is None else torch.empty_like(bias))
        bits = MF_LNL_GRAD_X | MF_LNL_GRAD_GAMMA | MF_LNL_GRAD_WEIGHT
        bits |= (MF_LNL_GRAD_BETA if beta is not None else 0) | (MF_LNL_GRAD_BIAS if bias is not None else 0)
        y = torch.empty((x.shape[0], weight.shape[1]), dtype=x.dtype, device=x.device)  # described, not written
        self._run(dict(x=x, gamma=gamma, beta=beta, weight=weight, bias=bias, y=y, mean=mean, rstd=rstd, d_y=d_y,
                       **grads), MF_BACKWARD, bits, x)
        return tuple(grads[k] for k in ("d_x", "d_gamma", "d_beta", "d_weight", "d_bias"))


class Transition(_RowOperator):
    """The SwiGLU Transition (DESIGN.md §1.3) through the C API:
    y = (a * silu(g)) @ w2 with [a | g] = LN(x; gamma, beta, eps) @ w1 (no LayerNorm when
    gamma is None); w1 given as the logical [D, 2F] and w2 as [F, D] (for nn.Linear weights
    pass their .t(): no copy)."""

    OP, TENSORS, DESC, ARGS = "transition", TRANSITION_TENSORS, TransitionDesc, TransitionArgs

    def forward(self, x, w1, w2, gamma=None, beta=None, save_stats: bool = True):
        """Returns (y, mean, rstd); mean and rstd are None without the LayerNorm or save_stats."""
        import torch
        m = x.shape[0]
        y = torch.empty_like(x, memory_format=torch.contiguous_format)
        stats = save_stats and gamma is not None
        mean = torch.empty(m, dtype=torch.float32, device=x.device) if stats else None
        rstd = torch.empty(m, dtype=torch.float32, device=x.device) if stats else None
        self._run(dict(x=x, gamma=gamma, beta=beta, w1=w1, w2=w2, y=y, mean=mean, rstd=rstd), MF_FORWARD, 0, x)
        return y, mean, rstd

    def backward(self, x, w1, w2, d_y, gamma=None, beta=None, mean=None, rstd=None):
        """Every gradient whose primal exists: (d_x, d_gamma, d_beta, d_w1, d_w2), each laid
        out like its primal (d_w1, d_w2 like the views given), None where absent."""
        import torch

        def like(t):
            return None if t is None else torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device=t.device)

        grads = dict(d_x=torch.empty_like(x), d_gamma=like(gamma), d_beta=like(beta), d_w1=like(w1), d_w2=like(w2))
        bits = MF_TRANSITION_GRAD_X | MF_TRANSITION_GRAD_W1 | MF_TRANSITION_GRAD_W2
        bits |= (MF_TRANSITION_GRAD_GAMMA if gamma is not None else 0) | (MF_TRANSITION_GRAD_BETA if beta is not None else 0)
        y = torch.empty_like(x)  # described, not written
        self._run(dict(x=x, gamma=gamma, beta=beta, w1=w1, w2=w2, y=y, mean=mean, rstd=rstd, d_y=d_y, **grads),
                  MF_BACKWARD, bits, x)
        return tuple(grads[k] for k in ("d_x", "d_gamma", "d_beta", "d_w1", "d_w2"))
