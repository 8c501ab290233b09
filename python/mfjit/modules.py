"""Drop-in nn.Modules over the functional API: EvoAttention (the attention core of the AF3
attention modules), LayerNormLinear (nn.LayerNorm followed by nn.Linear) and Transition (the
AF3 SwiGLU MLP). They hold their parameters as the torch modules they replace do, so those
modules' state dicts load into them unchanged."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from . import functional as F


class EvoAttention(nn.Module):
    """softmax(scale·q·kᵀ + bias + mask)·v in one of functional.LAYOUTS; no parameters."""

    def __init__(self, layout: str = "canonical", scale: Optional[float] = None, dbias_mode: str = "deterministic"):
        super().__init__()
        if layout not in F.LAYOUTS:
            raise ValueError(f"mfjit.EvoAttention: layout {layout!r}: use one of {', '.join(F.LAYOUTS)}")
        self.layout, self.scale, self.dbias_mode = layout, scale, dbias_mode

    def forward(self, q: Tensor, k: Tensor, v: Tensor, bias: Optional[Tensor] = None,
                mask: Optional[Tensor] = None) -> Tensor:
        return F.evo_attention(q, k, v, bias, mask, layout=self.layout, scale=self.scale, dbias_mode=self.dbias_mode)

    def extra_repr(self) -> str:
        return f"layout={self.layout!r}, scale={self.scale}, dbias_mode={self.dbias_mode!r}"


def _rename_sequential_keys(names: dict, state_dict: dict, prefix: str) -> None:
    """Accepts the state dict of the nn.Sequential this module replaces: its positional keys
    ("0.weight") become this module's names ("layer_norm.weight")."""
    for position, name in names.items():
        for key in [k for k in state_dict if k.startswith(f"{prefix}{position}.")]:
            state_dict[f"{prefix}{name}.{key[len(prefix) + len(position) + 1:]}"] = state_dict.pop(key)


class LayerNormLinear(nn.Module):
    """nn.Sequential(nn.LayerNorm(in_features), nn.Linear(in_features, out_features)) fused.
    Its state dict is theirs: "layer_norm.*" and "linear.*" (a Sequential's "0.*" and "1.*"
    load as well)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, eps: float = 1e-5,
                 elementwise_affine: bool = True, ln_bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.layer_norm = nn.LayerNorm(in_features, eps=eps, elementwise_affine=elementwise_affine,
                                       bias=ln_bias, device=device, dtype=dtype)
        self.linear = nn.Linear(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self._register_load_state_dict_pre_hook(self._accept_sequential)

    @classmethod
    def from_modules(cls, layer_norm: nn.LayerNorm, linear: nn.Linear) -> "LayerNormLinear":
        """A LayerNormLinear sharing the parameters of existing modules (no copy)."""
        if layer_norm.normalized_shape != (linear.in_features,):
            raise ValueError(f"mfjit.LayerNormLinear.from_modules: the LayerNorm normalizes {layer_norm.normalized_shape}"
                             f" but the Linear takes {linear.in_features} features")
        module = cls.__new__(cls)
        nn.Module.__init__(module)
        module.layer_norm, module.linear = layer_norm, linear
        module._register_load_state_dict_pre_hook(module._accept_sequential)
        return module

    @staticmethod
    def _accept_sequential(state_dict, prefix, *_):
        _rename_sequential_keys({"0": "layer_norm", "1": "linear"}, state_dict, prefix)

    def forward(self, x: Tensor) -> Tensor:
        ln = self.layer_norm
        gamma = ln.weight if ln.weight is not None else torch.ones(ln.normalized_shape, dtype=x.dtype, device=x.device)
        return F.layer_norm_linear(x, gamma, ln.bias, self.linear.weight, self.linear.bias, ln.eps)


class Transition(nn.Module):
    """AF3's Transition (Algorithm 11) fused: x = LayerNorm(x); a = linear_a(x); b = linear_b(x);
    y = linear_out(silu(a) ⊙ b); every Linear without bias, hidden width expansion·dim.
    State dict: "layer_norm.*", "linear_a.weight", "linear_b.weight", "linear_out.weight"
    (layer_norm=False drops the LayerNorm, as the diffusion module's conditioned transition
    does outside it)."""

    def __init__(self, dim: int, expansion: int = 4, layer_norm: bool = True, eps: float = 1e-5,
                 device=None, dtype=None):
        super().__init__()
        hidden = expansion * dim
        self.layer_norm = nn.LayerNorm(dim, eps=eps, device=device, dtype=dtype) if layer_norm else None
        self.linear_a = nn.Linear(dim, hidden, bias=False, device=device, dtype=dtype)
        self.linear_b = nn.Linear(dim, hidden, bias=False, device=device, dtype=dtype)
        self.linear_out = nn.Linear(hidden, dim, bias=False, device=device, dtype=dtype)
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        # The fused operator gates its second half: [a | g] with a ⊙ silu(g), so b comes first.
        w1 = torch.cat([self.linear_b.weight, self.linear_a.weight], dim=0)
        ln = self.layer_norm
        gamma = beta = None
        if ln is not None:
            gamma = ln.weight if ln.weight is not None else torch.ones(ln.normalized_shape, dtype=x.dtype,
                                                                        device=x.device)
            beta = ln.bias
        return F.transition(x, w1, self.linear_out.weight, gamma, beta, ln.eps if ln is not None else self.eps)
