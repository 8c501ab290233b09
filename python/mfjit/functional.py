"""mfjit's functional API on torch tensors: the three operators in the layouts users hold,
checked, turned into the canonical layouts of DESIGN.md §1 (views only, never copies) and
run through the custom ops (ops.py), with autograd.

EvoAttention layouts (`layout=`), B batch, H heads, D head dim; attention runs over the key
axis named in the third column, once for every index of the others:

| layout           | q, k, v, result      | keys     | bias (broadcastable to) | mask (broadcastable to) |
|------------------|----------------------|----------|-------------------------|-------------------------|
| "canonical"      | [B, S, N, H, D]      | N        | [B, S, H, N, N]         | [B, S, 1, 1, N]         |
| "single"         | [B, N, H, D]         | N        | [B, H, N, N]            | [B, N]                  |
| "triangle_start" | [B, I, J, H, D]      | J        | [B, H, J, J]            | [B, I, J]               |
| "triangle_end"   | [B, I, J, H, D]      | I        | [B, H, I, I]            | [B, I, J]               |
| "msa_row"        | [B, S, N, H, D]      | N        | [B, H, N, N]            | [B, S, N]               |
| "msa_column"     | [B, S, N, H, D]      | S        | none                    | [B, S, N]               |

"triangle_end" and "msa_column" attend along the second axis: the op gets transposed views,
never copies, and the result comes back in the layout of q. A boolean mask keeps the keys
where it is True; a floating mask is added to the logits.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from . import ops
from .capi import DBIAS_MODES
from .layouts import LAYOUTS

FLOATING = (torch.float16, torch.bfloat16, torch.float32, torch.float64)



def _check_dtype(function: str, name: str, t: Tensor, allowed=FLOATING) -> None:
    """TypeError naming the argument and the dtypes it takes, unless t is a tensor of one."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{function}: {name} must be a torch.Tensor, not {type(t).__name__}")
    if t.dtype not in allowed:
        raise TypeError(f"{function}: {name} is {t.dtype}; use one of {', '.join(str(d) for d in allowed)}")


def _real(function: str, name: str, value) -> float:
    """value as a float; TypeError naming the argument unless it is a real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not (
            isinstance(value, Tensor) and value.dim() == 0 and not value.is_complex()):
        raise TypeError(f"{function}: {name} must be a real number, not {type(value).__name__}")
    return float(value)


def _positive_eps(function: str, eps) -> float:
    """eps as a float; the C API reads 0 as its default 1e-5, so 0 (or less) is refused here."""
    value = _real(function, "eps", eps)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{function}: eps must be a positive finite number, not {value}")
    return value


def _check_same_device(function: str, reference: Tensor, **tensors: Optional[Tensor]) -> None:
    for name, t in tensors.items():
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"{function}: {name} must be a torch.Tensor, not {type(t).__name__}")
        if t is not None and t.device != reference.device:
            raise ValueError(f"{function}: {name} is on {t.device} but the first input is on {reference.device}; "
                             "every tensor of one call must be on one device")


def _left_pad(t: Tensor, rank: int) -> Tensor:
    return t.reshape((1,) * (rank - t.dim()) + tuple(t.shape)) if t.dim() < rank else t


def _collapse_broadcast(t: Tensor) -> Tensor:
    """Size-1 views of the dimensions an expand() made (stride 0), so the library reduces the
    bias gradient over them instead of writing a full-size one."""
    for d in range(t.dim()):
        if t.stride(d) == 0 and t.shape[d] > 1:
            t = t.narrow(d, 0, 1)
    return t


def _broadcast_to(function: str, name: str, t: Tensor, full: tuple, rule: str) -> Tensor:
    """t left-padded to the rank of `full`, each dimension 1 or that of `full`, else ValueError."""
    if t.dim() > len(full):
        raise ValueError(f"{function}: {name} has rank {t.dim()} {tuple(t.shape)}; it must broadcast to {rule}")
    t = _left_pad(t, len(full))
    if any(n not in (1, f) for n, f in zip(t.shape, full)):
        raise ValueError(f"{function}: {name} of shape {tuple(t.shape)} does not broadcast to {rule} = {full}")
    return t


def evo_attention(q: Tensor, k: Tensor, v: Tensor, bias: Optional[Tensor] = None, mask: Optional[Tensor] = None,
                  *, layout: str = "canonical", scale: Optional[float] = None,
                  dbias_mode: str = "deterministic") -> Tensor:
    """softmax(scale·q·kᵀ + bias + mask)·v (DESIGN.md §1.1) in one of the layouts of this module;
    scale defaults to D^-1/2. Differentiable in q, k, v and bias (not the mask). dbias_mode
    "deterministic" (bitwise reproducible, the default) or "fast" (may use float atomics)."""
    fn = "mfjit.evo_attention"
    if layout not in LAYOUTS:
        raise ValueError(f"{fn}: layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    if dbias_mode not in DBIAS_MODES:
        raise ValueError(f"{fn}: dbias_mode {dbias_mode!r}: use one of {', '.join(DBIAS_MODES)}")
    q_rank, keys_second, bias_rank, mask_rank = LAYOUTS[layout]
    for name, t in (("q", q), ("k", k), ("v", v)):
        _check_dtype(fn, name, t)
    _check_same_device(fn, q, k=k, v=v, bias=bias, mask=mask)
    if q.dim() != q_rank:
        raise ValueError(f"{fn}: q has shape {tuple(q.shape)}; layout {layout!r} takes rank {q_rank}")
    for name, t in (("k", k), ("v", v)):
        if t.dtype != q.dtype:
            raise TypeError(f"{fn}: {name} is {t.dtype} but q is {q.dtype}; q, k and v share one dtype")
        if t.shape != q.shape:
            raise ValueError(f"{fn}: {name} has shape {tuple(t.shape)} but q has {tuple(q.shape)}")

    canonical = [t if q_rank == 5 else t.unsqueeze(1) for t in (q, k, v)]
    if keys_second:
        canonical = [t.transpose(1, 2) for t in canonical]
    cq, ck, cv = canonical
    B, S, N, H, D = cq.shape

    if bias is not None:
        if bias_rank is None:
            raise ValueError(f"{fn}: layout {layout!r} takes no bias")
        _check_dtype(fn, "bias", bias, (q.dtype, torch.float32))
        own = (B, S, H, N, N) if bias_rank == 5 else (B, H, N, N)
        rule = "[B, S, H, N, N]" if bias_rank == 5 else "[B, H, keys, keys]"
        bias = _collapse_broadcast(_broadcast_to(fn, "bias", bias, own, rule))
        if bias_rank == 4:
            bias = bias.unsqueeze(1)
    if mask is not None:
        _check_dtype(fn, "mask", mask, (torch.bool, q.dtype, torch.float32))
        if mask_rank == 5:
            mask = _broadcast_to(fn, "mask", mask, (B, S, 1, 1, N), "[B, S, 1, 1, N]")
        else:
            rows = q.shape[:q_rank - 2]  # the layout's own [B, N] or [B, I, J] / [B, S, N]
            mask = _broadcast_to(fn, "mask", mask, tuple(rows), f"{list(rows)} (q's leading dimensions)")
            if mask_rank == 2:
                mask = mask.unsqueeze(1)
            if keys_second:
                mask = mask.transpose(1, 2)
            mask = mask[:, :, None, None, :]
        mask = mask.expand(*mask.shape[:-1], N)  # the library broadcasts a mask over all but the keys
    c = 0.0  # 0 selects D^-1/2 in the library, so an explicit scale must not be 0
    if scale is not None:
        c = _real(fn, "scale", scale)
        if not math.isfinite(c) or c == 0.0:
            raise ValueError(f"{fn}: scale must be finite and nonzero, not {c} (None selects D^-1/2)")
    o, _ = ops.evo_attention_forward(cq, ck, cv, bias, mask, c, dbias_mode)
    if keys_second:
        o = o.transpose(1, 2)
    return o if q_rank == 5 else o.squeeze(1)


def evoformer_attention(q: Tensor, k: Tensor, v: Tensor, biases: list) -> Tensor:
    """DeepSpeed's DS4Sci_EvoformerAttention(Q, K, V, biases) interface: q, k, v
    [B, S, N, H, D]; biases holds at most two additive terms, the mask [B, S, 1, 1, N] and
    then the pair bias [B, 1, H, N, N] (either may be None)."""
    if len(biases) > 2:
        raise ValueError(f"mfjit.evoformer_attention: biases holds {len(biases)} tensors; at most 2 "
                         "(the mask [B, S, 1, 1, N], then the pair bias [B, 1, H, N, N])")
    mask = biases[0] if len(biases) > 0 else None
    bias = biases[1] if len(biases) > 1 else None
    if mask is not None and mask.dtype == torch.bool:
        raise TypeError("mfjit.evoformer_attention: biases[0] is an additive mask (floating), not boolean")
    return evo_attention(q, k, v, bias, mask)


def _rows(x: Tensor) -> Tensor:
    """x as [M, features]: a view of every leading dimension flattened (a copy only when
    the leading dimensions cannot be flattened without one)."""
    return x.reshape(-1, x.shape[-1])


def layer_norm_linear(x: Tensor, ln_weight: Tensor, ln_bias: Optional[Tensor], weight: Tensor,
                      bias: Optional[Tensor] = None, eps: float = 1e-5) -> Tensor:
    """linear(layer_norm(x, ln_weight, ln_bias, eps), weight, bias) fused (DESIGN.md §1.2);
    weight in nn.Linear's [N, K] layout, x [..., K]. Differentiable in every tensor."""
    fn = "mfjit.layer_norm_linear"
    _check_dtype(fn, "x", x)
    for name, t in (("ln_weight", ln_weight), ("ln_bias", ln_bias), ("weight", weight), ("bias", bias)):
        if t is not None:
            _check_dtype(fn, name, t)
    _check_same_device(fn, x, ln_weight=ln_weight, ln_bias=ln_bias, weight=weight, bias=bias)
    eps = _positive_eps(fn, eps)
    if x.dim() == 0 or x.shape[-1] == 0:
        raise ValueError(f"{fn}: x has no features (K = 0): shape {tuple(x.shape)}")
    if weight.dim() != 2 or weight.shape[1] != x.shape[-1]:
        raise ValueError(f"{fn}: weight has shape {tuple(weight.shape)}; it must be [N, K] with K = x.shape[-1] "
                         f"= {x.shape[-1]}")
    y, _, _ = ops.layer_norm_linear_forward(_rows(x), ln_weight, ln_bias, weight.t(), bias, eps)
    return y.reshape(*x.shape[:-1], weight.shape[0])


def transition(x: Tensor, w1: Tensor, w2: Tensor, ln_weight: Optional[Tensor] = None,
               ln_bias: Optional[Tensor] = None, eps: float = 1e-5) -> Tensor:
    """The SwiGLU Transition (DESIGN.md §1.3) fused: [a | g] = layer_norm(x)·w1ᵀ,
    y = (a ⊙ silu(g))·w2ᵀ, with w1 [2F, D] and w2 [D, F] in nn.Linear's layout (a: the first F
    rows of w1) and no LayerNorm when ln_weight is None. x [..., D]. Differentiable in every tensor."""
    fn = "mfjit.transition"
    _check_dtype(fn, "x", x)
    for name, t in (("w1", w1), ("w2", w2), ("ln_weight", ln_weight), ("ln_bias", ln_bias)):
        if t is not None:
            _check_dtype(fn, name, t)
    _check_same_device(fn, x, w1=w1, w2=w2, ln_weight=ln_weight, ln_bias=ln_bias)
    eps = _positive_eps(fn, eps)
    if x.dim() == 0 or x.shape[-1] == 0:
        raise ValueError(f"{fn}: x has no features (D = 0): shape {tuple(x.shape)}")
    d = x.shape[-1]
    if w1.dim() != 2 or w1.shape[1] != d or w1.shape[0] % 2:
        raise ValueError(f"{fn}: w1 has shape {tuple(w1.shape)}; it must be [2F, D] with D = x.shape[-1] = {d}")
    if w2.dim() != 2 or tuple(w2.shape) != (d, w1.shape[0] // 2):
        raise ValueError(f"{fn}: w2 has shape {tuple(w2.shape)}; it must be [D, F] = [{d}, {w1.shape[0] // 2}]")
    if ln_weight is None and ln_bias is not None:
        raise ValueError(f"{fn}: ln_bias without ln_weight; the LayerNorm needs its weight")
    y, _, _ = ops.transition_forward(_rows(x), ln_weight, ln_bias, w1.t(), w2.t(), eps)
    return y.reshape(x.shape)
