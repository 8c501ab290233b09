"""Operator runners: each turns arrays (torch tensors on any device mfjit has a backend for,
or numpy arrays on the cpu backend) into mfjit plans, cached per tensor signature, and runs
them. No autograd here: the torch custom ops (ops.py) and the benchmarks call these.

Contexts are shared by every runner of a process (one per library, device and options), so
many runners cost one context each device; plans keep their context alive.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, Iterable, Optional

from .capi import (DBIAS_MODES, EVO_TENSORS, LNL_TENSORS, MF_BACKWARD, MF_EVO_GRAD_BIAS, MF_EVO_GRAD_K,
                   MF_EVO_GRAD_Q, MF_EVO_GRAD_V, MF_FORWARD, MF_LNL_GRAD_BETA, MF_LNL_GRAD_BIAS, MF_LNL_GRAD_GAMMA,
                   MF_LNL_GRAD_WEIGHT, MF_LNL_GRAD_X, MF_MASK_ADDITIVE, MF_MASK_BOOLEAN, MF_MASK_NONE,
                   MF_TRANSITION_GRAD_BETA, MF_TRANSITION_GRAD_GAMMA, MF_TRANSITION_GRAD_W1, MF_TRANSITION_GRAD_W2,
                   MF_TRANSITION_GRAD_X, TRANSITION_TENSORS, Context, EvoAttentionArgs, EvoAttentionDesc,
                   LayerNormLinearArgs, LayerNormLinearDesc, Library, Plan, TransitionArgs, TransitionDesc,
                   array_desc, is_torch, load_library)

_contexts_lock = threading.Lock()
_contexts: dict[tuple, Context] = {}


def shared_context(library: Library, device_key: tuple, **options) -> Context:
    """The process's context for (library, device, options), created on first use."""
    key = (library.path, device_key, tuple(sorted(options.items())))
    with _contexts_lock:
        context = _contexts.get(key)
        if context is None:
            context = _contexts[key] = Context(device_key[0], device_key[1], library=library, **options)
        return context


def device_key(x) -> tuple:
    """("cuda", ordinal) for a CUDA tensor, ("cpu", 0) for a cpu tensor or numpy array."""
    if is_torch(x) and x.device.type == "cuda":
        return ("cuda", x.device.index if x.device.index is not None else 0)
    if is_torch(x) and x.device.type != "cpu":
        raise ValueError(f"mfjit has no backend for torch device {x.device}")
    return ("cpu", 0)


def _torch_workspace(size: int, like) -> tuple[Optional[int], int, Any]:
    """A workspace of `size` bytes from torch's allocator for this call: stream-ordered, so
    concurrent streams never share one, and captured into CUDA graphs like any tensor.
    Returns (pointer, size, the tensor to keep alive until the call is enqueued)."""
    if size == 0:
        return None, 0, None
    import torch
    buffer = torch.empty(size, dtype=torch.uint8, device=like.device)
    return buffer.data_ptr(), size, buffer


def _stream(key: tuple) -> Optional[int]:
    if key[0] != "cuda":
        return None
    import torch
    return torch.cuda.current_stream(key[1]).cuda_stream


# ---- EvoAttention -------------------------------------------------------------------------


class EvoAttention:
    """EvoAttention (DESIGN.md §1.1) through the C API.

    Layouts: q, k, v, o [B, S, N, H, D]; bias broadcastable to [B, S, H, N, N] (rank 5);
    mask rank 5 broadcast to [B, S, 1, 1, N], boolean (True keeps the key) or additive
    (floating); lse [B, S, H, N] f32. Plans are cached per (direction, gradients, every
    tensor's dtype/shape/strides); scale and dbias mode are the runner's. Torch executions
    take their workspace from torch's allocator and go on torch's current stream; numpy
    executions share one grown workspace.
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
        self._lock = threading.Lock()
        self._by_signature: dict[tuple, Plan] = {}  # tensor signatures -> plan: the per-call fast path
        self._numpy_workspace = None
        self._largest_workspace = 0
        self.last_plans: dict[str, Plan] = {}  # "forward"/"backward": the plan of the latest call

    # -- plumbing --

    def context(self, key: tuple) -> Context:
        return shared_context(self.library, key, **self._context_options)

    def plans(self) -> list[Plan]:
        with self._lock:
            return list(dict.fromkeys(self._by_signature.values()))

    def last_workspace_bytes(self) -> int:
        """The workspace the latest forward and backward need."""
        return max((plan.workspace_size for plan in self.last_plans.values()), default=0)

    def workspace_bytes(self) -> int:
        """The largest workspace a call of this runner has asked for."""
        return self._largest_workspace

    def _workspace(self, plan: Plan, like) -> tuple[Optional[int], int, Any]:
        need = plan.workspace_size
        self._largest_workspace = max(self._largest_workspace, need)
        if is_torch(like):
            return _torch_workspace(need, like)
        if need == 0:
            return None, 0, None
        if self._numpy_workspace is None or self._numpy_workspace.nbytes < need:
            import numpy as np
            self._numpy_workspace = np.empty(need, dtype=np.uint8)
        return self._numpy_workspace.ctypes.data, self._numpy_workspace.nbytes, self._numpy_workspace

    @staticmethod
    def _empty(like, shape, dtype=None):
        if is_torch(like):
            import torch
            if dtype is None and tuple(shape) == tuple(like.shape):
                return torch.empty_like(like)  # keeps a permuted layout's strides
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

    def _desc(self, tensors: dict, gradients: int) -> EvoAttentionDesc:
        desc = EvoAttentionDesc()
        for name in EVO_TENSORS:
            setattr(desc, name, array_desc(tensors.get(name))[0])
        desc.mask_kind = self._mask_kind(tensors.get("mask"))
        desc.scale = self.scale
        desc.dbias_mode = DBIAS_MODES[self.dbias_mode]
        desc.gradients = gradients
        return desc

    @staticmethod
    def _signature(tensors: dict) -> tuple:
        """What a plan depends on of the tensors (dtype, device, shape, strides), cheap to compute."""
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

    def _plan_for(self, tensors: dict, direction: int, gradients: int, key: tuple) -> Plan:
        """The plan for these tensors: by signature when seen before (no descriptor is built
        and nothing is looked up in the library), else created from the descriptor."""
        signature = (key, direction, gradients, self._signature(tensors))
        with self._lock:
            plan = self._by_signature.get(signature)
        if plan is None:
            plan = self.context(key).evo_attention_plan(self._desc(tensors, gradients), direction)
            with self._lock:
                plan = self._by_signature.setdefault(signature, plan)
        return plan

    def _execute(self, plan: Plan, tensors: dict, key: tuple, like) -> None:
        workspace, size, _keep = self._workspace(plan, like)
        self.library.call("mf_evo_attention_execute", plan.context.handle, plan.handle,
                          ctypes.byref(self._pointers(tensors)), workspace, size, _stream(key))

    # -- the operator --

    def forward(self, q, k, v, bias=None, mask=None, o=None, lse=None, save_lse: bool = True):
        """O (and LSE when save_lse or lse is given). Returns (o, lse or None)."""
        B, S, N, H, D = q.shape
        if o is None:
            o = self._empty(q, q.shape)
        if lse is None and save_lse:
            lse = self._empty(q, (B, S, H, N), self._f32(q))
        key = device_key(q)
        tensors = dict(q=q, k=k, v=v, bias=bias, mask=mask, o=o, lse=lse)
        plan = self._plan_for(tensors, MF_FORWARD, 0, key)
        self.last_plans["forward"] = plan
        self._execute(plan, tensors, key, q)
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
        key = device_key(q)
        tensors = dict(q=q, k=k, v=v, bias=bias, mask=mask, o=o, lse=lse, d_o=d_o, **out)
        plan = self._plan_for(tensors, MF_BACKWARD, bits, key)
        self.last_plans["backward"] = plan
        self._execute(plan, tensors, key, q)
        return tuple(out.get(n) for n in ("d_q", "d_k", "d_v", "d_bias"))

    def close(self) -> None:
        """Forgets this runner's plans (a plan is destroyed when nothing holds it any more)."""
        with self._lock:
            self._by_signature.clear()
        self.last_plans.clear()
        self._numpy_workspace = None


# ---- LayerNormLinear and Transition ----------------------------------------------------------


class _RowOperator:
    """What LayerNormLinear and Transition share: torch tensors on one device, plans cached
    per tensor signature, executions on torch's current stream with a workspace from torch's
    allocator. Subclasses name the C API's operator and structures."""

    OP = ""
    TENSORS: tuple = ()
    DESC: type = ctypes.Structure
    ARGS: type = ctypes.Structure

    def __init__(self, eps: float = 1e-5, library: Optional[Library | str | os.PathLike] = None,
                 cache_dir: Optional[str] = None, db_path: Optional[str] = None):
        self.eps = float(eps)
        self.library = library if isinstance(library, Library) else load_library(library)
        self._options = dict(cache_dir=cache_dir, db_path=db_path)
        self._lock = threading.Lock()
        self._plans: dict[tuple, Plan] = {}
        self.last_plans: dict[str, Plan] = {}

    def plans(self) -> list[Plan]:
        with self._lock:
            return list(self._plans.values())

    def _plan_for(self, tensors: dict, direction: int, gradients: int, key: tuple) -> Plan:
        signature = (key, direction, gradients, tuple(
            None if tensors.get(k) is None else (tensors[k].dtype, tuple(tensors[k].shape), tensors[k].stride())
            for k in self.TENSORS))
        with self._lock:
            plan = self._plans.get(signature)
        if plan is None:
            desc = self.DESC()
            for name, t in tensors.items():
                setattr(desc, name, array_desc(t)[0])
            desc.eps = self.eps
            desc.gradients = gradients
            context = shared_context(self.library, key, **self._options)
            plan = context.operator_plan(self.OP, desc, direction)
            with self._lock:
                plan = self._plans.setdefault(signature, plan)
        return plan

    def _run(self, tensors: dict, direction: int, gradients: int, like) -> None:
        key = device_key(like)
        plan = self._plan_for(tensors, direction, gradients, key)
        self.last_plans["forward" if direction == MF_FORWARD else "backward"] = plan
        workspace, size, _keep = _torch_workspace(plan.workspace_size, like)
        args = self.ARGS(*[None if tensors.get(k) is None else tensors[k].data_ptr() for k in self.TENSORS])
        self.library.call(f"mf_{self.OP}_execute", plan.context.handle, plan.handle, ctypes.byref(args),
                          workspace, size, _stream(key))

    def close(self) -> None:
        """Forgets this runner's plans (a plan is destroyed when nothing holds it any more)."""
        with self._lock:
            self._plans.clear()
        self.last_plans.clear()


def _described_output(d_y):
    """What stands for y in a backward, which describes y (a contiguous [M, N] like the
    forward's) but neither reads nor writes it: d_y itself where it is contiguous, instead of
    an allocation (189 MB at AF3's pair size for LayerNormLinear N = 640); a fresh tensor
    only for a d_y of another layout (an expanded gradient has stride 0)."""
    import torch
    return d_y if d_y.is_contiguous() else torch.empty(d_y.shape, dtype=d_y.dtype, device=d_y.device)


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
        y = _described_output(d_y)
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
        y = _described_output(d_y)
        self._run(dict(x=x, gamma=gamma, beta=beta, w1=w1, w2=w2, y=y, mean=mean, rstd=rstd, d_y=d_y, **grads),
                  MF_BACKWARD, bits, x)
        return tuple(grads[k] for k in ("d_x", "d_gamma", "d_beta", "d_w1", "d_w2"))
