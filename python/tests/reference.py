"""Float64 references of the operators (DESIGN.md §1), written from the formulas with plain
torch ops, independent of mfjit: the tests' ground truth, differentiable by autograd."""

import torch


def evo_attention(q, k, v, bias=None, mask=None, scale=None):
    """Canonical layout: q, k, v [B, S, N, H, D]; bias broadcast to [B, S, H, N, N]; mask to
    [B, S, 1, 1, N], boolean (keep) or additive. Rows with every key dropped give 0."""
    q, k, v = (t.double() for t in (q, k, v))
    c = q.shape[-1] ** -0.5 if scale is None else scale
    logits = c * torch.einsum("bsqhd,bskhd->bshqk", q, k)
    if bias is not None:
        logits = logits + bias.double()
    if mask is not None:
        if mask.dtype == torch.bool:
            logits = logits.masked_fill(~mask, float("-inf"))
        else:
            logits = logits + mask.double()
    dropped = torch.isneginf(logits).all(-1, keepdim=True)
    p = torch.softmax(logits.masked_fill(dropped, 0.0), -1).masked_fill(dropped, 0.0)
    return torch.einsum("bshqk,bskhd->bsqhd", p, v)


def layer_norm(x, gamma, beta, eps):
    x = x.double()
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps) * gamma.double()
    return y + beta.double() if beta is not None else y


def layer_norm_linear(x, gamma, beta, weight, bias, eps=1e-5):
    """weight [N, K] (nn.Linear's layout)."""
    y = layer_norm(x, gamma, beta, eps) @ weight.double().t()
    return y + bias.double() if bias is not None else y


def transition(x, w1, w2, gamma=None, beta=None, eps=1e-5):
    """[a | g] = LN(x)·w1ᵀ, y = (a ⊙ silu(g))·w2ᵀ; w1 [2F, D], w2 [D, F]."""
    h = layer_norm(x, gamma, beta, eps) if gamma is not None else x.double()
    a, g = (h @ w1.double().t()).chunk(2, dim=-1)
    return (a * torch.nn.functional.silu(g)) @ w2.double().t()
