"""mfjit's torch custom ops: a forward and a backward op per operator, each one call of a cached
plan (runners.py). Autograd formulas call the backward ops; fake implementations give shapes
and strides so torch.compile traces through the ops without running them.

The ops take canonical layouts (DESIGN.md §1): functional.py turns the users' layouts into
them. Absent optional outputs are returned as empty tensors (a custom op returns tensors).
"""

from __future__ import annotations

import threading
from typing import Optional

import torch
from torch import Tensor

from . import runners

_runners_lock = threading.Lock()
_runners: dict[tuple, object] = {}


def _runner(kind: type, *parameters):
    """The process's runner of `kind` for these parameters (scale and dbias mode, or eps)."""
    key = (kind, *parameters)
    with _runners_lock:
        runner = _runners.get(key)
        if runner is None:
            runner = _runners[key] = kind(*parameters)
        return runner


def all_runners() -> list:
    with _runners_lock:
        return list(_runners.values())


def forget_plans() -> None:
    """Drops every cached plan, so the next call of each problem asks the tuning database again."""
    for runner in all_runners():
        runner.close()


def _gradients(grads, primals, needs_input_grad) -> tuple:
    """autograd's answer: each gradient where its input asked for one, None elsewhere
    (the backward ops return placeholders for absent inputs)."""
    return tuple(g if needed and primal is not None else None
                 for g, primal, needed in zip(grads, primals, needs_input_grad))


def _absent(like: Tensor, dtype: Optional[torch.dtype] = None) -> Tensor:
    """The placeholder of an absent output: an empty tensor on like's device."""
    return like.new_empty((0,), dtype=dtype)


# ---- EvoAttention -------------------------------------------------------------------------

_EVO_GRADIENTS = ("q", "k", "v", "bias")


@torch.library.custom_op("mfjit::evo_attention_forward", mutates_args=())
def evo_attention_forward(q: Tensor, k: Tensor, v: Tensor, bias: Optional[Tensor], mask: Optional[Tensor],
                          scale: float, dbias_mode: str) -> tuple[Tensor, Tensor]:
    """(O, LSE). dbias_mode is the backward's; the forward takes it so autograd can keep it."""
    o, lse = _runner(runners.EvoAttention, scale, dbias_mode).forward(q, k, v, bias, mask)
    return o, lse


@evo_attention_forward.register_fake
def _(q, k, v, bias, mask, scale, dbias_mode):
    B, S, N, H, _ = q.shape
    return torch.empty_like(q), q.new_empty((B, S, H, N), dtype=torch.float32)


@torch.library.custom_op("mfjit::evo_attention_backward", mutates_args=())
def evo_attention_backward(q: Tensor, k: Tensor, v: Tensor, bias: Optional[Tensor], mask: Optional[Tensor],
                           o: Tensor, lse: Tensor, d_o: Tensor, scale: float, dbias_mode: str,
                           wanted: list[bool]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(d_q, d_k, d_v, d_bias) where `wanted` (four flags in that order) asks; empty elsewhere."""
    names = [name for name, flag in zip(_EVO_GRADIENTS, wanted) if flag]
    grads = _runner(runners.EvoAttention, scale, dbias_mode).backward(q, k, v, o, lse, d_o, bias, mask,
                                                                       gradients=names)
    return tuple(g if g is not None else _absent(q) for g in grads)


@evo_attention_backward.register_fake
def _(q, k, v, bias, mask, o, lse, d_o, scale, dbias_mode, wanted):
    return tuple(torch.empty_like(t) if t is not None and flag else _absent(q)
                 for flag, t in zip(wanted, (q, k, v, bias)))


def _evo_setup_context(ctx, inputs, output):
    q, k, v, bias, mask, scale, dbias_mode = inputs
    o, lse = output
    ctx.save_for_backward(q, k, v, bias, mask, o, lse)
    ctx.scale, ctx.dbias_mode = scale, dbias_mode
    ctx.mark_non_differentiable(lse)


def _evo_backward(ctx, d_o, _d_lse):
    q, k, v, bias, mask, o, lse = ctx.saved_tensors
    wanted = [bool(needed) and primal is not None for needed, primal in zip(ctx.needs_input_grad, (q, k, v, bias))]
    grads = evo_attention_backward(q, k, v, bias, mask, o, lse, d_o, ctx.scale, ctx.dbias_mode, wanted)
    return _gradients(grads, (q, k, v, bias), wanted) + (None, None, None)


torch.library.register_autograd("mfjit::evo_attention_forward", _evo_backward, setup_context=_evo_setup_context)


# ---- LayerNormLinear -----------------------------------------------------------------------


@torch.library.custom_op("mfjit::layer_norm_linear_forward", mutates_args=())
def layer_norm_linear_forward(x: Tensor, gamma: Tensor, beta: Optional[Tensor], weight: Tensor,
                              bias: Optional[Tensor], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(y, mean, rstd) of x [M, K] and the logical weight [K, N] (any strides)."""
    return _runner(runners.LayerNormLinear, eps).forward(x, gamma, weight, beta, bias)


@layer_norm_linear_forward.register_fake
def _(x, gamma, beta, weight, bias, eps):
    m = x.shape[0]
    stats = x.new_empty((m,), dtype=torch.float32)
    return x.new_empty((m, weight.shape[1])), stats, torch.empty_like(stats)


@torch.library.custom_op("mfjit::layer_norm_linear_backward", mutates_args=())
def layer_norm_linear_backward(x: Tensor, gamma: Tensor, beta: Optional[Tensor], weight: Tensor,
                               bias: Optional[Tensor], mean: Tensor, rstd: Tensor, d_y: Tensor,
                               eps: float) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(d_x, d_gamma, d_beta, d_weight, d_bias), each laid out like its primal; empty where absent."""
    grads = _runner(runners.LayerNormLinear, eps).backward(x, gamma, weight, mean, rstd, d_y, beta, bias)
    return tuple(g if g is not None else _absent(x) for g in grads)


@layer_norm_linear_backward.register_fake
def _(x, gamma, beta, weight, bias, mean, rstd, d_y, eps):
    return tuple(_absent(x) if t is None else torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device=t.device)
                 for t in (x, gamma, beta, weight, bias))


def _lnl_setup_context(ctx, inputs, output):
    x, gamma, beta, weight, bias, eps = inputs
    _, mean, rstd = output
    ctx.save_for_backward(x, gamma, beta, weight, bias, mean, rstd)
    ctx.eps = eps
    ctx.mark_non_differentiable(mean, rstd)


def _lnl_backward(ctx, d_y, _d_mean, _d_rstd):
    x, gamma, beta, weight, bias, mean, rstd = ctx.saved_tensors
    grads = layer_norm_linear_backward(x, gamma, beta, weight, bias, mean, rstd, d_y, ctx.eps)
    return _gradients(grads, (x, gamma, beta, weight, bias), ctx.needs_input_grad) + (None,)


torch.library.register_autograd("mfjit::layer_norm_linear_forward", _lnl_backward, setup_context=_lnl_setup_context)


# ---- Transition ---------------------------------------------------------------------------


@torch.library.custom_op("mfjit::transition_forward", mutates_args=())
def transition_forward(x: Tensor, gamma: Optional[Tensor], beta: Optional[Tensor], w1: Tensor, w2: Tensor,
                       eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(y, mean, rstd) of x [M, D], the logical w1 [D, 2F] and w2 [F, D]; the statistics are
    empty without the LayerNorm (gamma absent)."""
    y, mean, rstd = _runner(runners.Transition, eps).forward(x, w1, w2, gamma, beta)
    no_stats = _absent(x, torch.float32)
    return y, mean if mean is not None else no_stats, rstd if rstd is not None else no_stats.clone()


@transition_forward.register_fake
def _(x, gamma, beta, w1, w2, eps):
    m = x.shape[0]
    stats = x.new_empty((m,) if gamma is not None else (0,), dtype=torch.float32)
    return torch.empty_like(x, memory_format=torch.contiguous_format), stats, torch.empty_like(stats)


@torch.library.custom_op("mfjit::transition_backward", mutates_args=())
def transition_backward(x: Tensor, gamma: Optional[Tensor], beta: Optional[Tensor], w1: Tensor, w2: Tensor,
                        mean: Optional[Tensor], rstd: Optional[Tensor], d_y: Tensor,
                        eps: float) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(d_x, d_gamma, d_beta, d_w1, d_w2), each laid out like its primal; empty where absent."""
    grads = _runner(runners.Transition, eps).backward(x, w1, w2, d_y, gamma, beta, mean, rstd)
    return tuple(g if g is not None else _absent(x) for g in grads)


@transition_backward.register_fake
def _(x, gamma, beta, w1, w2, mean, rstd, d_y, eps):
    return tuple(_absent(x) if t is None else torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device=t.device)
                 for t in (x, gamma, beta, w1, w2))


def _transition_setup_context(ctx, inputs, output):
    x, gamma, beta, w1, w2, eps = inputs
    _, mean, rstd = output
    ctx.save_for_backward(x, gamma, beta, w1, w2, mean, rstd)
    ctx.eps = eps
    ctx.mark_non_differentiable(mean, rstd)


def _transition_backward(ctx, d_y, _d_mean, _d_rstd):
    x, gamma, beta, w1, w2, mean, rstd = ctx.saved_tensors
    if gamma is None:
        mean = rstd = None
    grads = transition_backward(x, gamma, beta, w1, w2, mean, rstd, d_y, ctx.eps)
    return _gradients(grads, (x, gamma, beta, w1, w2), ctx.needs_input_grad) + (None,)


torch.library.register_autograd("mfjit::transition_forward", _transition_backward,
                                setup_context=_transition_setup_context)
