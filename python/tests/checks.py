"""Comparisons of the package's tests: tolerances per dtype and device (DESIGN.md §1.4), the
relative error, and one operator call checked against its float64 reference, value and
gradients."""

import torch

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}
CUDA_TF32_TOLERANCE = 1e-3  # DESIGN.md §1.4: fp32 where tf32 is allowed


def tolerance(dtype, device):
    return CUDA_TF32_TOLERANCE if dtype == torch.float32 and device.type == "cuda" else TOLERANCE[dtype]


def dtypes_for(device):
    return [torch.float64, torch.float32] if device.type == "cpu" else [torch.float32, torch.float16, torch.bfloat16]


def relative_error(out, ref):
    out, ref = out.double(), ref.double()
    assert not torch.isnan(out).any(), "NaN in the result"
    return ((out - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def assert_matches_reference(function, reference_function, tensors, dtype, device, shape=None):
    """function(*tensors) against reference_function(*float64 copies): the result (of
    `shape`, default the first tensor's) and the gradient of every tensor present, under
    a random cotangent; None entries are absent inputs."""
    leaves = [t.requires_grad_() if t is not None else None for t in tensors]
    out = function(*leaves)
    ref_leaves = [t.detach().double().requires_grad_() if t is not None else None for t in leaves]
    ref = reference_function(*ref_leaves)
    tol = tolerance(dtype, device)
    assert out.shape == (shape or tensors[0].shape) and out.dtype == dtype
    assert relative_error(out, ref.reshape(out.shape)) < tol
    weight = torch.randn_like(out, dtype=torch.float64)
    grads = torch.autograd.grad((out.double() * weight).sum(), [t for t in leaves if t is not None])
    ref_grads = torch.autograd.grad((ref.reshape(out.shape) * weight).sum(), [t for t in ref_leaves if t is not None])
    for g, rg in zip(grads, ref_grads):
        assert relative_error(g, rg) < 4 * tol
