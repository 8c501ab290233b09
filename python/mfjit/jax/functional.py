"""mfjit's operators on JAX arrays: checked in Python (errors name the argument, as the torch
API's do), each a `jax.custom_vjp` whose forward and backward are XLA FFI custom calls
(_ffi.py). The layouts are those of the torch API (python/mfjit/functional.py); the handlers
turn them into the canonical descriptors with strides, so no layout costs a copy.
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from .. import capi
from ..layouts import LAYOUTS
from . import _ffi

FLOATING = (jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64)



def _dtype_names(allowed) -> str:
    return ", ".join(np.dtype(d).name for d in allowed)


def _check_array(function: str, name: str, x, allowed=FLOATING) -> None:
    """TypeError naming the argument unless x is an array (or tracer) of an allowed dtype."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype") or isinstance(x, (bool, int, float, complex)):
        raise TypeError(f"{function}: {name} must be an array, not {type(x).__name__}")
    if np.dtype(x.dtype) not in [np.dtype(d) for d in allowed]:
        raise TypeError(f"{function}: {name} is {np.dtype(x.dtype).name}; use one of {_dtype_names(allowed)}")


def _real(function: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{function}: {name} must be a real number, not {type(value).__name__}")
    return float(value)


def _positive_eps(function: str, eps) -> float:
    value = _real(function, "eps", eps)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{function}: eps must be a positive finite number, not {value}")
    return value


def _broadcast_to(function: str, name: str, x, full: tuple, rule: str):
    """x left-padded to the rank of `full` (a reshape, free), each dimension 1 or that of `full`."""
    if x.ndim > len(full):
        raise ValueError(f"{function}: {name} has rank {x.ndim} {tuple(x.shape)}; it must broadcast to {rule}")
    if x.ndim < len(full):
        x = jnp.reshape(x, (1,) * (len(full) - x.ndim) + tuple(x.shape))
    if any(n not in (1, f) for n, f in zip(x.shape, full)):
        raise ValueError(f"{function}: {name} of shape {tuple(x.shape)} does not broadcast to {rule} = {full}")
    return x


def _struct(shape, dtype):
    return jax.ShapeDtypeStruct(tuple(shape), dtype)


# ---- EvoAttention ----------------------------------------------------------------------------


def _lse_shape(q_shape, layout: str) -> tuple:
    """LSE's canonical [B, S, H, N] for q in `layout`."""
    if layout == "single":
        B, N, H, _ = q_shape
        return (B, 1, H, N)
    B, X, Y, H, _ = q_shape
    return (B, Y, H, X) if LAYOUTS[layout][1] else (B, X, H, Y)


def _evo_forward(q, k, v, bias, mask, layout, scale, dbias_mode):
    out = _ffi.run("evo_attention", capi.MF_FORWARD, dict(q=q, k=k, v=v, bias=bias, mask=mask),
                   dict(o=_struct(q.shape, q.dtype), lse=_struct(_lse_shape(q.shape, layout), jnp.float32)),
                   layout=_ffi.LAYOUTS[layout], dbias_mode=capi.DBIAS_MODES[dbias_mode], scale=scale)
    return out["o"], out["lse"]


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6, 7))
def _evo_attention(q, k, v, bias, mask, layout, scale, dbias_mode):
    return _evo_forward(q, k, v, bias, mask, layout, scale, dbias_mode)[0]


def _evo_attention_fwd(q, k, v, bias, mask, layout, scale, dbias_mode):
    o, lse = _evo_forward(q, k, v, bias, mask, layout, scale, dbias_mode)
    return o, (q, k, v, bias, mask, o, lse)


def _evo_attention_bwd(layout, scale, dbias_mode, residuals, d_o):
    q, k, v, bias, mask, o, lse = residuals
    grads = dict(d_q=_struct(q.shape, q.dtype), d_k=_struct(k.shape, k.dtype), d_v=_struct(v.shape, v.dtype),
                 d_bias=None if bias is None else _struct(bias.shape, bias.dtype))
    out = _ffi.run("evo_attention", capi.MF_BACKWARD,
                   dict(q=q, k=k, v=v, bias=bias, mask=mask, o=o, lse=lse, d_o=d_o.astype(o.dtype)), grads,
                   layout=_ffi.LAYOUTS[layout], dbias_mode=capi.DBIAS_MODES[dbias_mode], scale=scale)
    return out["d_q"], out["d_k"], out["d_v"], out.get("d_bias"), None


_evo_attention.defvjp(_evo_attention_fwd, _evo_attention_bwd)


def evo_attention(q, k, v, bias=None, mask=None, *, layout: str = "canonical", scale: Optional[float] = None,
                  dbias_mode: str = "deterministic"):
    """softmax(scale·q·kᵀ + bias + mask)·v (DESIGN.md §1.1) in one of the layouts of
    mfjit.functional (canonical, single, triangle_start, triangle_end, msa_row, msa_column);
    scale defaults to D^-1/2. A boolean mask keeps the keys where it is True; a floating mask
    is added to the logits. Differentiable (reverse mode) in q, k, v and bias, not the mask;
    works under jax.jit, jax.grad and jax.vmap. dbias_mode "deterministic" (bitwise
    reproducible, the default) or "fast" (may use float atomics, on a GPU)."""
    fn = "mfjit.jax.evo_attention"
    if layout not in LAYOUTS:
        raise ValueError(f"{fn}: layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    if dbias_mode not in capi.DBIAS_MODES:
        raise ValueError(f"{fn}: dbias_mode {dbias_mode!r}: use one of {', '.join(capi.DBIAS_MODES)}")
    q_rank, keys_second, bias_rank, mask_rank = LAYOUTS[layout]
    for name, t in (("q", q), ("k", k), ("v", v)):
        _check_array(fn, name, t)
    if q.ndim != q_rank:
        raise ValueError(f"{fn}: q has shape {tuple(q.shape)}; layout {layout!r} takes rank {q_rank}")
    for name, t in (("k", k), ("v", v)):
        if t.dtype != q.dtype:
            raise TypeError(f"{fn}: {name} is {np.dtype(t.dtype).name} but q is {np.dtype(q.dtype).name}; "
                            "q, k and v share one dtype")
        if tuple(t.shape) != tuple(q.shape):
            raise ValueError(f"{fn}: {name} has shape {tuple(t.shape)} but q has {tuple(q.shape)}")
    if layout == "single":
        B, N, H, D = q.shape
        rows = (B, N)
    else:
        B, X, Y, H, D = q.shape
        N = X if keys_second else Y
        rows = (B, X, Y)

    if bias is not None:
        if bias_rank is None:
            raise ValueError(f"{fn}: layout {layout!r} takes no bias")
        _check_array(fn, "bias", bias, (q.dtype, jnp.float32))
        if bias_rank == 5:
            bias = _broadcast_to(fn, "bias", bias, (B, X, H, N, N), "[B, S, H, N, N]")
        else:
            bias = _broadcast_to(fn, "bias", bias, (B, H, N, N), "[B, H, keys, keys]")
    if mask is not None:
        _check_array(fn, "mask", mask, (jnp.bool_, q.dtype, jnp.float32))
        if mask_rank == 5:
            mask = _broadcast_to(fn, "mask", mask, (B, X, 1, 1, N), "[B, S, 1, 1, N]")
        else:
            mask = _broadcast_to(fn, "mask", mask, rows, f"{list(rows)} (q's leading dimensions)")
    c = 0.0  # 0 selects D^-1/2 in the library, so an explicit scale must not be 0
    if scale is not None:
        c = _real(fn, "scale", scale)
        if not math.isfinite(c) or c == 0.0:
            raise ValueError(f"{fn}: scale must be finite and nonzero, not {c} (None selects D^-1/2)")
    return _evo_attention(q, k, v, bias, mask, layout, c, dbias_mode)


# ---- LayerNormLinear -------------------------------------------------------------------------


def _rows_forward(op, tensors, m, n, dtype, eps, stats=True):
    outputs = dict(y=_struct((m, n), dtype))
    if stats:
        outputs.update(mean=_struct((m,), jnp.float32), rstd=_struct((m,), jnp.float32))
    out = _ffi.run(op, capi.MF_FORWARD, tensors, outputs, eps=eps)
    return out["y"], out.get("mean"), out.get("rstd")


def _like(t):
    return None if t is None else _struct(t.shape, t.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _layer_norm_linear(x, gamma, beta, weight, bias, eps):
    return _rows_forward("layer_norm_linear", dict(x=x, gamma=gamma, beta=beta, weight=weight, bias=bias),
                         x.shape[0], weight.shape[1], x.dtype, eps)[0]


def _layer_norm_linear_fwd(x, gamma, beta, weight, bias, eps):
    y, mean, rstd = _rows_forward("layer_norm_linear", dict(x=x, gamma=gamma, beta=beta, weight=weight, bias=bias),
                                  x.shape[0], weight.shape[1], x.dtype, eps)
    return y, (x, gamma, beta, weight, bias, mean, rstd)


def _layer_norm_linear_bwd(eps, residuals, d_y):
    x, gamma, beta, weight, bias, mean, rstd = residuals
    out = _ffi.run("layer_norm_linear", capi.MF_BACKWARD,
                   dict(x=x, gamma=gamma, beta=beta, weight=weight, bias=bias, mean=mean, rstd=rstd,
                        d_y=d_y.astype(x.dtype)),
                   dict(d_x=_like(x), d_gamma=_like(gamma), d_beta=_like(beta), d_weight=_like(weight),
                        d_bias=_like(bias)), eps=eps)
    return tuple(out.get(name) for name in ("d_x", "d_gamma", "d_beta", "d_weight", "d_bias"))


_layer_norm_linear.defvjp(_layer_norm_linear_fwd, _layer_norm_linear_bwd)


def _features(function: str, x, letter: str) -> int:
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"{function}: x has no features ({letter} = 0): shape {tuple(x.shape)}")
    return int(x.shape[-1])


def layer_norm_linear(x, ln_weight, ln_bias, weight, bias=None, eps: float = 1e-5):
    """layer_norm(x; ln_weight, ln_bias, eps) @ weight + bias fused (DESIGN.md §1.2): x [..., K],
    weight [K, N] (JAX's layout, as a Flax or Haiku Dense kernel; torch's nn.Linear weight is its
    transpose), ln_bias and bias optional. Differentiable in every array."""
    fn = "mfjit.jax.layer_norm_linear"
    _check_array(fn, "x", x)
    for name, t in (("ln_weight", ln_weight), ("ln_bias", ln_bias), ("weight", weight), ("bias", bias)):
        if t is not None or name in ("ln_weight", "weight"):
            _check_array(fn, name, t)
    eps = _positive_eps(fn, eps)
    k = _features(fn, x, "K")
    if weight.ndim != 2 or weight.shape[0] != k:
        raise ValueError(f"{fn}: weight has shape {tuple(weight.shape)}; it must be [K, N] with K = x.shape[-1] = {k}")
    n = int(weight.shape[1])
    for name, t, size, letter in (("ln_weight", ln_weight, k, "K"), ("ln_bias", ln_bias, k, "K"),
                                  ("bias", bias, n, "N")):
        if t is not None and tuple(t.shape) != (size,):
            raise ValueError(f"{fn}: {name} has shape {tuple(t.shape)}; it must be [{letter}] = [{size}]")
    y = _layer_norm_linear(jnp.reshape(x, (-1, k)), ln_weight, ln_bias, weight, bias, eps)
    return jnp.reshape(y, tuple(x.shape[:-1]) + (n,))


# ---- Transition ------------------------------------------------------------------------------


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _transition(x, gamma, beta, w1, w2, eps):
    return _rows_forward("transition", dict(x=x, gamma=gamma, beta=beta, w1=w1, w2=w2), x.shape[0], x.shape[1],
                         x.dtype, eps, stats=gamma is not None)[0]


def _transition_fwd(x, gamma, beta, w1, w2, eps):
    y, mean, rstd = _rows_forward("transition", dict(x=x, gamma=gamma, beta=beta, w1=w1, w2=w2), x.shape[0],
                                  x.shape[1], x.dtype, eps, stats=gamma is not None)
    return y, (x, gamma, beta, w1, w2, mean, rstd)


def _transition_bwd(eps, residuals, d_y):
    x, gamma, beta, w1, w2, mean, rstd = residuals
    out = _ffi.run("transition", capi.MF_BACKWARD,
                   dict(x=x, gamma=gamma, beta=beta, w1=w1, w2=w2, mean=mean, rstd=rstd, d_y=d_y.astype(x.dtype)),
                   dict(d_x=_like(x), d_gamma=_like(gamma), d_beta=_like(beta), d_w1=_like(w1), d_w2=_like(w2)),
                   eps=eps)
    return tuple(out.get(name) for name in ("d_x", "d_gamma", "d_beta", "d_w1", "d_w2"))


_transition.defvjp(_transition_fwd, _transition_bwd)


def transition(x, w1, w2, ln_weight=None, ln_bias=None, eps: float = 1e-5):
    """The SwiGLU Transition (DESIGN.md §1.3) fused: [a | g] = layer_norm(x) @ w1,
    y = (a * silu(g)) @ w2, with w1 [D, 2F] and w2 [F, D] in JAX's layout (a: the first F
    columns of w1; torch's nn.Linear weights are the transposes) and no LayerNorm when
    ln_weight is None. x [..., D]. Differentiable in every array."""
    fn = "mfjit.jax.transition"
    _check_array(fn, "x", x)
    for name, t in (("w1", w1), ("w2", w2), ("ln_weight", ln_weight), ("ln_bias", ln_bias)):
        if t is not None or name in ("w1", "w2"):
            _check_array(fn, name, t)
    eps = _positive_eps(fn, eps)
    d = _features(fn, x, "D")
    if w1.ndim != 2 or w1.shape[0] != d or w1.shape[1] % 2:
        raise ValueError(f"{fn}: w1 has shape {tuple(w1.shape)}; it must be [D, 2F] with D = x.shape[-1] = {d}")
    f = int(w1.shape[1]) // 2
    if w2.ndim != 2 or tuple(w2.shape) != (f, d):
        raise ValueError(f"{fn}: w2 has shape {tuple(w2.shape)}; it must be [F, D] = [{f}, {d}]")
    if ln_weight is None and ln_bias is not None:
        raise ValueError(f"{fn}: ln_bias without ln_weight; the LayerNorm needs its weight")
    for name, t in (("ln_weight", ln_weight), ("ln_bias", ln_bias)):
        if t is not None and tuple(t.shape) != (d,):
            raise ValueError(f"{fn}: {name} has shape {tuple(t.shape)}; it must be [D] = [{d}]")
    y = _transition(jnp.reshape(x, (-1, d)), ln_weight, ln_bias, w1, w2, eps)
    return jnp.reshape(y, x.shape)
