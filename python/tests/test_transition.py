"""mfjit.transition and mfjit.Transition against the float64 reference and against AF3's
Transition written with torch modules: outputs, gradients, gradcheck, state dicts, bad inputs."""

import pytest
import torch
from torch import nn

import mfjit
import reference
from checks import assert_matches_reference, dtypes_for, relative_error, tolerance
from pairformer_block import TorchTransition


def inputs(M=29, D=32, F=64, dtype=torch.float64, device="cpu", layer_norm=True):
    x = torch.randn(M, D, dtype=dtype, device=device)
    w1 = torch.randn(2 * F, D, dtype=dtype, device=device) / D ** 0.5
    w2 = torch.randn(D, F, dtype=dtype, device=device) / F ** 0.5
    gamma = 1 + 0.1 * torch.randn(D, dtype=dtype, device=device) if layer_norm else None
    beta = torch.randn(D, dtype=dtype, device=device) if layer_norm else None
    return x, w1, w2, gamma, beta


@pytest.mark.parametrize("layer_norm", [True, False])
def test_forward_and_gradients_match_the_reference(device, layer_norm):
    for dtype in dtypes_for(device):
        assert_matches_reference(mfjit.transition, reference.transition,
                                 inputs(dtype=dtype, device=device, layer_norm=layer_norm), dtype, device)


def test_gradcheck_in_float64():
    tensors = tuple(t.requires_grad_() for t in inputs(M=4, D=16, F=32))
    assert torch.autograd.gradcheck(lambda *t: mfjit.transition(*t), tensors, fast_mode=True)


def test_the_module_is_a_drop_in_for_af3_s_transition(device):
    dtype = dtypes_for(device)[0]
    torch_module = TorchTransition(32).to(device, dtype)
    with torch.no_grad():
        torch_module.layer_norm.weight.normal_()
        torch_module.layer_norm.bias.normal_()
    fused = mfjit.Transition(32, device=device, dtype=dtype)
    fused.load_state_dict(torch_module.state_dict())
    x = torch.randn(2, 13, 32, dtype=dtype, device=device, requires_grad=True)
    out, ref = fused(x), torch_module(x)
    assert out.shape == x.shape
    assert relative_error(out, ref) < tolerance(dtype, device)
    d_out = torch.randn_like(out)
    fused_grads = torch.autograd.grad(out, [x, *fused.parameters()], d_out)
    torch_grads = torch.autograd.grad(ref, [x, *torch_module.parameters()], d_out)
    for g, rg in zip(fused_grads, torch_grads):
        assert relative_error(g, rg) < 4 * tolerance(dtype, device)


def test_module_without_layer_norm():
    fused = mfjit.Transition(16, expansion=2, layer_norm=False).double()
    x = torch.randn(7, 16, dtype=torch.float64)
    h = nn.functional.silu(fused.linear_a(x)) * fused.linear_b(x)
    assert relative_error(fused(x), fused.linear_out(h)) < 1e-10
    assert "layer_norm.weight" not in fused.state_dict()


def test_bad_inputs_raise():
    x, w1, w2, gamma, beta = inputs()
    with pytest.raises(TypeError, match=r"w1 is torch.int32"):
        mfjit.transition(x, w1.int(), w2, gamma, beta)
    with pytest.raises(ValueError, match=r"w1 has shape \(127, 32\); it must be \[2F, D\]"):
        mfjit.transition(x, w1[:127], w2, gamma, beta)
    with pytest.raises(ValueError, match=r"w2 has shape \(32, 60\); it must be \[D, F\] = \[32, 64\]"):
        mfjit.transition(x, w1, w2[:, :60], gamma, beta)
    with pytest.raises(ValueError, match=r"ln_bias without ln_weight"):
        mfjit.transition(x, w1, w2, None, beta)
    with pytest.raises(ValueError, match=r"w2 is on meta"):
        mfjit.transition(x, w1, w2.to("meta"), gamma, beta)
    with pytest.raises(TypeError, match=r"eps must be a real number, not str"):
        mfjit.transition(x, w1, w2, gamma, beta, eps="abc")
    with pytest.raises(ValueError, match=r"eps must be a positive finite number"):
        mfjit.transition(x, w1, w2, gamma, beta, eps=0.0)
    with pytest.raises(ValueError, match=r"x has no features \(D = 0\)"):
        mfjit.transition(x[:, :0], w1[:, :0], w2[:0], gamma[:0], beta[:0])
