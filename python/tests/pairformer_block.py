"""A small AF3-style Pairformer block (AF3 Algorithm 17 without the triangle multiplications):
triangle attention around the starting and the ending node, a pair transition, single
attention with pair bias and a single transition, each a residual update. One class, two
engines: "mfjit" runs the attention cores and transitions through mfjit, "torch" through
plain torch ops; both hold the same parameters, so one's state dict loads into the other.
Used by the package's tests and by bench/pairformer.py."""

from __future__ import annotations

import torch
from torch import nn

import mfjit


def torch_attention(q, k, v, bias, mask):
    """Canonical layout in plain torch: q, k, v [B, S, N, H, D], bias [B, 1, H, N, N], mask
    [B, S, 1, 1, N] boolean (every row keeps at least one key)."""
    logits = torch.einsum("bsqhd,bskhd->bshqk", q, k) * q.shape[-1] ** -0.5 + bias
    logits = logits.masked_fill(~mask, float("-inf"))
    return torch.einsum("bshqk,bskhd->bsqhd", torch.softmax(logits, -1), v)


class GatedAttention(nn.Module):
    """LayerNorm, q/k/v projections, a pair bias projected from z, sigmoid gating, output
    projection (AF3 Algorithms 14-15 and 24)."""

    def __init__(self, dim, pair_dim, heads, head_dim, layout, engine):
        super().__init__()
        self.layout, self.engine, self.heads, self.head_dim = layout, engine, heads, head_dim
        self.norm = nn.LayerNorm(dim)
        self.pair_norm = nn.LayerNorm(pair_dim) if layout == "single" else None
        self.qkvg = nn.Linear(dim, 4 * heads * head_dim, bias=False)
        self.bias = nn.Linear(pair_dim, heads, bias=False)
        self.out = nn.Linear(heads * head_dim, dim, bias=False)

    def forward(self, x, z, mask):
        """x [B, N, dim] (single) or [B, N, N, dim] (pair); z [B, N, N, pair_dim]; mask [B, N] bool."""
        h = self.norm(x)
        q, k, v, g = self.qkvg(h).unflatten(-1, (4, self.heads, self.head_dim)).unbind(-3)
        pair = self.pair_norm(z) if self.pair_norm is not None else h
        b = self.bias(pair)  # [B, i, j, H]
        # the bias of query q and key k: b[q, k] for the starting node and single attention,
        # b[k, q] for the ending node (AF3 Algorithm 15)
        bias = b.permute(0, 3, 2, 1) if self.layout == "triangle_end" else b.permute(0, 3, 1, 2)
        if self.engine == "mfjit":
            # the layout's own mask: [B, N] for single attention, [B, i, j] for the pair, whose
            # keys are j for the starting node and i for the ending node
            key_mask = {"single": mask, "triangle_start": mask[:, None, :], "triangle_end": mask[:, :, None]}[self.layout]
            o = mfjit.evo_attention(q, k, v, bias, key_mask, layout=self.layout)
        else:
            o = self._torch_core(q, k, v, bias, mask)
        return self.out((torch.sigmoid(g) * o).flatten(-2))

    def _torch_core(self, q, k, v, bias, mask):
        B, N = mask.shape
        key_mask = mask[:, None, None, None, :]
        if self.layout == "single":
            return torch_attention(q[:, None], k[:, None], v[:, None], bias[:, None], key_mask)[:, 0]
        if self.layout == "triangle_end":
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        o = torch_attention(q, k, v, bias[:, None], key_mask)
        return o.transpose(1, 2) if self.layout == "triangle_end" else o


class TorchTransition(nn.Module):
    """AF3's Transition (Algorithm 11) in plain torch, with mfjit.Transition's parameter names."""

    def __init__(self, dim, expansion=4):
        super().__init__()
        self.layer_norm = nn.LayerNorm(dim)
        self.linear_a = nn.Linear(dim, expansion * dim, bias=False)
        self.linear_b = nn.Linear(dim, expansion * dim, bias=False)
        self.linear_out = nn.Linear(expansion * dim, dim, bias=False)

    def forward(self, x):
        x = self.layer_norm(x)
        return self.linear_out(nn.functional.silu(self.linear_a(x)) * self.linear_b(x))


class PairformerBlock(nn.Module):
    """AF3's sizes: single_dim=384, pair_dim=128, pair_heads=4, pair_head_dim=32,
    single_heads=16, single_head_dim=24; the defaults are small for tests."""

    def __init__(self, single_dim=64, pair_dim=32, pair_heads=4, single_heads=4, pair_head_dim=16,
                 single_head_dim=16, engine="mfjit"):
        super().__init__()
        transition = mfjit.Transition if engine == "mfjit" else TorchTransition
        self.triangle_start = GatedAttention(pair_dim, pair_dim, pair_heads, pair_head_dim, "triangle_start", engine)
        self.triangle_end = GatedAttention(pair_dim, pair_dim, pair_heads, pair_head_dim, "triangle_end", engine)
        self.pair_transition = transition(pair_dim)
        self.single_attention = GatedAttention(single_dim, pair_dim, single_heads, single_head_dim, "single", engine)
        self.single_transition = transition(single_dim)

    def forward(self, s, z, mask):
        z = z + self.triangle_start(z, z, mask)
        z = z + self.triangle_end(z, z, mask)
        z = z + self.pair_transition(z)
        s = s + self.single_attention(s, z, mask)
        s = s + self.single_transition(s)
        return s, z


def make_pair(seed=0, tokens=24, dtype=torch.float32, device="cpu", **sizes):
    """The same two blocks (mfjit and torch engines, equal parameters; `sizes` as
    PairformerBlock's) and a random batch: (mfjit_block, torch_block, s, z, mask, s_target, z_target)."""
    torch.manual_seed(seed)
    blocks = [PairformerBlock(**sizes, engine=e) for e in ("mfjit", "torch")]
    single_dim, pair_dim = blocks[0].single_transition.linear_out.out_features, blocks[0].pair_transition.linear_out.out_features
    blocks[1].load_state_dict(blocks[0].state_dict())
    blocks = [b.to(device, dtype) for b in blocks]
    s = torch.randn(1, tokens, single_dim, dtype=dtype, device=device)
    z = torch.randn(1, tokens, tokens, pair_dim, dtype=dtype, device=device)
    mask = torch.ones(1, tokens, dtype=torch.bool, device=device)
    mask[:, tokens - tokens // 5:] = False  # padding tokens, as a crop's tail
    s_target, z_target = torch.randn_like(s), torch.randn_like(z)
    return (*blocks, s, z, mask, s_target, z_target)


def train(block, s, z, mask, s_target, z_target, steps=4, lr=1e-2):
    """Adam steps on an MSE loss; returns (losses, the first step's gradients by name)."""
    optimizer = torch.optim.Adam(block.parameters(), lr=lr)
    losses, first_grads = [], None
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        s_out, z_out = block(s, z, mask)
        loss = (s_out.float() - s_target.float()).square().mean() + (z_out.float() - z_target.float()).square().mean()
        loss.backward()
        if first_grads is None:
            first_grads = {n: p.grad.detach().float().clone() for n, p in block.named_parameters()}
        optimizer.step()
        losses.append(loss.item())
    return losses, first_grads
