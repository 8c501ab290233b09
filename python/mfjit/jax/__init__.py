"""mfjit for JAX: the fused operators as XLA FFI custom calls (docs/jax.md).

    import mfjit.jax as mfj
    o = mfj.evo_attention(q, k, v, bias, mask, layout="triangle_start")   # jit, grad, vmap
    y = mfj.layer_norm_linear(x, ln_weight, ln_bias, weight, bias)       # weight [K, N]
    y = mfj.transition(x, w1, w2, ln_weight, ln_bias)                    # w1 [D, 2F], w2 [F, D]
    mfj.tune()                                                           # tune what ran; retrace
    mfj.describe()

Each operator is a jax.custom_vjp whose forward and backward are custom calls into
libmfjit_jax (python/xla_ffi), which makes mfjit plans through the C API, caches them per
problem and runs them on the cpu backend (and on CUDA: the stream XLA gives), with the
workspace allocated by XLA. Needs jax, not torch. Importing registers the custom calls.
"""

try:
    import jax as _jax  # noqa: F401
except ImportError as e:  # pragma: no cover - the message is the point
    raise ImportError("mfjit.jax needs JAX: pip install jax (the cpu build), or jax[cuda13] for NVIDIA GPUs") from e

from ..capi import MfjitArgumentError, MfjitError
from . import _ffi
from .functional import LAYOUTS, evo_attention, layer_norm_linear, transition
from .tuning import describe, forget_plans, tune

try:
    _ffi.library()  # loads libmfjit_jax and registers its handlers with XLA
except FileNotFoundError as e:
    raise ImportError(f"mfjit.jax: {e}") from e

__all__ = ["LAYOUTS", "MfjitArgumentError", "MfjitError", "describe", "evo_attention", "forget_plans",
           "layer_norm_linear", "transition", "tune"]
