"""mfjit.layer_norm_linear and mfjit.LayerNormLinear against the float64 reference and against
the torch modules they replace: outputs, gradients, gradcheck, state dicts, bad inputs."""

import pytest
import torch
from torch import nn

import mfjit
import reference
from checks import assert_matches_reference, dtypes_for, relative_error, tolerance


def inputs(M=37, K=64, N=24, dtype=torch.float64, device="cpu", beta=True, bias=True):
    x = torch.randn(M, K, dtype=dtype, device=device)
    gamma = 1 + 0.1 * torch.randn(K, dtype=dtype, device=device)
    b = torch.randn(K, dtype=dtype, device=device) if beta else None
    w = torch.randn(N, K, dtype=dtype, device=device) / K ** 0.5
    c = torch.randn(N, dtype=dtype, device=device) if bias else None
    return x, gamma, b, w, c


@pytest.mark.parametrize("beta,bias", [(True, True), (False, False), (True, False)])
def test_forward_and_gradients_match_the_reference(device, beta, bias):
    for dtype in dtypes_for(device):
        x, *rest = inputs(dtype=dtype, device=device, beta=beta, bias=bias)
        # x [1, 37, 64]: leading dimensions are flattened
        assert_matches_reference(mfjit.layer_norm_linear, reference.layer_norm_linear, (x.view(1, 37, 64), *rest),
                                 dtype, device, shape=(1, 37, 24))


def test_gradcheck_in_float64():
    tensors = tuple(t.requires_grad_() for t in inputs(M=5, K=16, N=6))
    assert torch.autograd.gradcheck(lambda *t: mfjit.layer_norm_linear(*t), tensors, fast_mode=True)


def test_the_module_is_a_drop_in_for_layernorm_then_linear(device):
    dtype = dtypes_for(device)[0]
    torch_module = nn.Sequential(nn.LayerNorm(64), nn.Linear(64, 40)).to(device, dtype)
    with torch.no_grad():
        for p in torch_module.parameters():
            p.normal_()
    fused = mfjit.LayerNormLinear(64, 40, device=device, dtype=dtype)
    fused.load_state_dict(torch_module.state_dict())  # a Sequential's "0.*"/"1.*" keys
    x = torch.randn(3, 11, 64, dtype=dtype, device=device)
    assert relative_error(fused(x), torch_module(x)) < tolerance(dtype, device)

    again = mfjit.LayerNormLinear(64, 40, device=device, dtype=dtype)
    again.load_state_dict(fused.state_dict())  # its own "layer_norm.*"/"linear.*" keys
    assert torch.equal(again(x), fused(x))
    assert set(fused.state_dict()) == {"layer_norm.weight", "layer_norm.bias", "linear.weight", "linear.bias"}

    shared = mfjit.LayerNormLinear.from_modules(torch_module[0], torch_module[1])
    assert shared.linear.weight is torch_module[1].weight
    fused_grad = torch.autograd.grad(shared(x).square().sum(), torch_module[1].weight)[0]
    torch_grad = torch.autograd.grad(torch_module(x).square().sum(), torch_module[1].weight)[0]
    assert relative_error(fused_grad, torch_grad) < 4 * tolerance(dtype, device)


def test_module_without_affine_or_biases():
    torch_module = nn.Sequential(nn.LayerNorm(32, elementwise_affine=False), nn.Linear(32, 8, bias=False)).double()
    fused = mfjit.LayerNormLinear(32, 8, bias=False, elementwise_affine=False).double()
    fused.load_state_dict(torch_module.state_dict())
    x = torch.randn(9, 32, dtype=torch.float64)
    assert relative_error(fused(x), torch_module(x)) < 1e-10


def test_bad_inputs_raise():
    x, gamma, beta, w, b = inputs()
    with pytest.raises(TypeError, match=r"x is torch.int64"):
        mfjit.layer_norm_linear(x.long(), gamma, beta, w, b)
    with pytest.raises(ValueError, match=r"weight has shape \(24, 63\); it must be \[N, K\] with K = x.shape\[-1\] = 64"):
        mfjit.layer_norm_linear(x, gamma, beta, w[:, :63], b)
    with pytest.raises(ValueError, match=r"weight is on meta"):
        mfjit.layer_norm_linear(x, gamma, beta, w.to("meta"), b)
    with pytest.raises(mfjit.MfjitArgumentError, match=r"gamma"):
        mfjit.layer_norm_linear(x, gamma[:10], beta, w, b)  # the library's shape rule
    with pytest.raises(TypeError, match=r"eps must be a real number, not str"):
        mfjit.layer_norm_linear(x, gamma, beta, w, b, eps="abc")
    for bad in (0.0, -1e-5, float("nan")):  # the C API reads 0 as its default 1e-5
        with pytest.raises(ValueError, match=r"eps must be a positive finite number"):
            mfjit.layer_norm_linear(x, gamma, beta, w, b, eps=bad)
    with pytest.raises(ValueError, match=r"x has no features \(K = 0\)"):
        mfjit.layer_norm_linear(x[:, :0], gamma[:0], beta[:0], w[:, :0], b)
    with pytest.raises(ValueError, match=r"normalizes"):
        mfjit.LayerNormLinear.from_modules(nn.LayerNorm(8), nn.Linear(9, 4))
