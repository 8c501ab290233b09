"""mfjit: tuned fused kernels for AlphaFold3-style training, for PyTorch.

    import mfjit
    o = mfjit.evo_attention(q, k, v, bias, mask, layout="triangle_start")
    block = mfjit.Transition(128)            # AF3's SwiGLU transition, fused
    mfjit.tune()                             # tune what this process ran; later calls use the winners
    mfjit.describe()                         # which kernel and configuration each call uses

The C API binding (mfjit.capi) works without torch, on numpy arrays; everything else needs torch.
"""

from .capi import MfjitArgumentError, MfjitError, find_library, load_library

try:
    import torch as _torch
except ImportError:  # the numpy-only use of mfjit.capi and mfjit.runners
    _torch = None

if _torch is not None:
    from .functional import evo_attention, evoformer_attention, layer_norm_linear, transition
    from .modules import EvoAttention, LayerNormLinear, Transition
    from .tuning import describe, forget_plans, tune


def version() -> str:
    """The version of the loaded libmfjit."""
    return load_library().version()


__all__ = ["EvoAttention", "LayerNormLinear", "MfjitArgumentError", "MfjitError", "Transition", "describe",
           "evo_attention", "evoformer_attention", "find_library", "forget_plans", "layer_norm_linear",
           "load_library", "transition", "tune", "version"]
