"""mfjit.evo_attention and mfjit.EvoAttention against the float64 reference: every layout,
masks, bias broadcasting and its gradient, dtypes per device, gradcheck, bad inputs."""

import pytest
import torch

import mfjit
import reference
from checks import dtypes_for, relative_error, tolerance
from conftest import poison_allocator

def layout_inputs(layout, B=2, rows=3, n=7, H=2, D=16, mask_kind="bool", with_bias=True, dtype=torch.float64,
                  device="cpu"):
    """Random q, k, v, bias, mask in the layout's own shapes (functional.LAYOUTS)."""
    qkv_shape = {"canonical": (B, rows, n, H, D), "single": (B, n, H, D), "triangle_start": (B, n, n, H, D),
                 "triangle_end": (B, n, n, H, D), "msa_row": (B, rows, n, H, D), "msa_column": (B, rows, n, H, D)}[layout]
    keys = rows if layout == "msa_column" else n
    q, k, v = (torch.randn(qkv_shape, dtype=dtype, device=device) for _ in range(3))
    bias = None
    if with_bias and layout != "msa_column":
        bias_shape = (B, 1, H, n, n) if layout == "canonical" else (B, H, keys, keys)
        bias = torch.randn(bias_shape, dtype=dtype, device=device)
    mask_shape = {"canonical": (B, rows, 1, 1, n), "single": (B, n)}.get(layout, qkv_shape[:3])
    mask = None
    if mask_kind == "bool":
        mask = torch.rand(mask_shape, device=device) > 0.3
    elif mask_kind == "additive":
        mask = torch.randn(mask_shape, dtype=dtype, device=device)
    return q, k, v, bias, mask


def layout_reference(layout, q, k, v, bias, mask):
    """The layout's definition, spelled out on the canonical reference."""
    if layout == "canonical":
        return reference.evo_attention(q, k, v, bias, mask)
    if layout == "single":
        out = reference.evo_attention(q[:, None], k[:, None], v[:, None], None if bias is None else bias[:, None],
                                      None if mask is None else mask[:, None, None, None, :])
        return out[:, 0]
    transposed = layout in ("triangle_end", "msa_column")
    if transposed:
        q, k, v = (t.permute(0, 2, 1, 3, 4) for t in (q, k, v))
        mask = None if mask is None else mask.permute(0, 2, 1)
    out = reference.evo_attention(q, k, v, None if bias is None else bias[:, None],
                                  None if mask is None else mask[:, :, None, None, :])
    return out.permute(0, 2, 1, 3, 4) if transposed else out


LAYOUT_NAMES = list(mfjit.functional.LAYOUTS)


@pytest.mark.parametrize("layout", LAYOUT_NAMES)
@pytest.mark.parametrize("mask_kind", ["bool", "additive", None])
def test_forward_and_gradients_match_the_reference(device, layout, mask_kind):
    for dtype in dtypes_for(device):
        q, k, v, bias, mask = layout_inputs(layout, mask_kind=mask_kind, dtype=dtype, device=device)
        inputs = [t.requires_grad_() for t in (q, k, v, bias) if t is not None]
        poison_allocator(device, 4 * q.numel())
        out = mfjit.evo_attention(q, k, v, bias, mask, layout=layout)
        assert out.shape == q.shape and out.dtype == q.dtype and out.device == q.device
        ref_inputs = [t.detach().double().requires_grad_() for t in inputs]
        rq, rk, rv, *rb = ref_inputs
        ref = layout_reference(layout, rq, rk, rv, rb[0] if rb else None, mask)
        tol = tolerance(dtype, device)
        assert relative_error(out, ref) < tol, (layout, dtype)

        weight = torch.randn_like(ref)
        grads = torch.autograd.grad((out.double() * weight).sum(), inputs)
        ref_grads = torch.autograd.grad((ref * weight).sum(), ref_inputs)
        for name, g, rg in zip("qkvb", grads, ref_grads):
            assert g.shape == rg.shape and g.dtype == dtype
            assert relative_error(g, rg) < 4 * tol, (layout, dtype, name)


@pytest.mark.parametrize("layout", LAYOUT_NAMES)
def test_gradcheck_in_float64(layout):
    q, k, v, bias, mask = layout_inputs(layout, B=1, rows=2, n=5, H=1, mask_kind="additive")
    inputs = tuple(t.requires_grad_() for t in (q, k, v, bias) if t is not None)

    def attention(*tensors):
        q, k, v, *b = tensors
        return mfjit.evo_attention(q, k, v, b[0] if b else None, mask, layout=layout)

    assert torch.autograd.gradcheck(attention, inputs, fast_mode=True)


def test_explicit_scale_and_the_module(device):
    q, k, v, bias, mask = layout_inputs("triangle_start", device=device, dtype=dtypes_for(device)[0])
    module = mfjit.EvoAttention(layout="triangle_start", scale=0.3)
    out = module(q, k, v, bias, mask)
    ref = reference.evo_attention(q, k, v, bias[:, None], mask[:, :, None, None, :], scale=0.3)
    assert relative_error(out, ref) < tolerance(q.dtype, device)
    assert "triangle_start" in repr(module)


def test_fully_masked_rows_give_zeros_and_zero_gradients(device):
    dtype = dtypes_for(device)[0]
    q, k, v, bias, _ = layout_inputs("msa_row", dtype=dtype, device=device)
    mask = torch.ones(q.shape[:3], dtype=torch.bool, device=device)
    mask[0, 1] = False  # every key of row s=1 of batch 0
    inputs = [t.requires_grad_() for t in (q, k, v, bias)]
    out = mfjit.evo_attention(q, k, v, bias, mask, layout="msa_row")
    assert torch.equal(out[0, 1], torch.zeros_like(out[0, 1]))
    assert torch.isfinite(out).all()
    d_q, d_k, d_v, _ = torch.autograd.grad(out.sum(), inputs)
    for g in (d_q, d_k, d_v):
        assert torch.equal(g[0, 1], torch.zeros_like(g[0, 1]))


def test_broadcast_bias_gradient_is_summed_over_the_broadcast_dimensions(device):
    dtype = dtypes_for(device)[0]
    q, k, v, _, mask = layout_inputs("canonical", dtype=dtype, device=device)
    B, S, N, H, _ = q.shape
    shared = torch.randn((H, N, N), dtype=dtype, device=device, requires_grad=True)  # rank 3: left-padded
    expanded = shared.expand(B, S, H, N, N)  # stride 0: the library reduces instead of writing B·S copies
    for bias in (shared, expanded):
        out = mfjit.evo_attention(q, k, v, bias, mask)
        (grad,) = torch.autograd.grad(out.sum(), shared)
        ref_shared = shared.detach().double().requires_grad_()
        ref = reference.evo_attention(q, k, v, ref_shared.expand(B, S, H, N, N), mask)
        (ref_grad,) = torch.autograd.grad(ref.sum(), ref_shared)
        assert relative_error(grad, ref_grad) < 4 * tolerance(dtype, device)


def test_fast_dbias_mode_matches_deterministic(device):
    dtype = dtypes_for(device)[0]
    q, k, v, bias, mask = layout_inputs("triangle_end", dtype=dtype, device=device)
    bias.requires_grad_()
    grads = []
    for mode in ("deterministic", "fast"):
        out = mfjit.evo_attention(q, k, v, bias, mask, layout="triangle_end", dbias_mode=mode)
        grads.append(torch.autograd.grad(out.sum(), bias)[0])
    assert relative_error(grads[1], grads[0]) < 4 * tolerance(dtype, device)


def test_deterministic_backward_is_bitwise_reproducible(device):
    dtype = dtypes_for(device)[-1]
    q, k, v, bias, mask = layout_inputs("triangle_start", dtype=dtype, device=device)
    inputs = [t.requires_grad_() for t in (q, k, v, bias)]
    d_o = torch.randn_like(q)
    first = torch.autograd.grad(mfjit.evo_attention(q, k, v, bias, mask, layout="triangle_start"), inputs, d_o)
    second = torch.autograd.grad(mfjit.evo_attention(q, k, v, bias, mask, layout="triangle_start"), inputs, d_o)
    for a, b in zip(first, second):
        assert torch.equal(a, b)


def test_non_contiguous_views(device):
    dtype = dtypes_for(device)[0]
    big = torch.randn((2, 3, 9, 2, 32), dtype=dtype, device=device)
    q, k, v = big[:, :, :7, :, :16], big[:, :, 1:8, :, 16:], big[:, :, 2:9, :, 8:24]  # strided slices
    bias = torch.randn((2, 2, 7, 7), dtype=dtype, device=device).transpose(-1, -2)
    out = mfjit.evo_attention(q, k, v, bias, layout="msa_row")
    ref = reference.evo_attention(q, k, v, bias[:, None])
    assert relative_error(out, ref) < tolerance(dtype, device)


def test_evoformer_attention_takes_deepspeeds_biases(device):
    dtype = dtypes_for(device)[0]
    q, k, v, bias, _ = layout_inputs("canonical", dtype=dtype, device=device)
    mask_bias = torch.where(torch.rand(q.shape[0], q.shape[1], 1, 1, q.shape[2], device=device) > 0.3, 0.0,
                            -1e9).to(dtype)
    out = mfjit.evoformer_attention(q, k, v, [mask_bias, bias])
    assert relative_error(out, reference.evo_attention(q, k, v, bias, mask_bias)) < tolerance(dtype, device)
    assert relative_error(mfjit.evoformer_attention(q, k, v, []), reference.evo_attention(q, k, v)) < \
        tolerance(dtype, device)


# ---- bad inputs --------------------------------------------------------------------------


def test_wrong_dtypes_raise_type_errors():
    q, k, v, bias, mask = layout_inputs("canonical")
    with pytest.raises(TypeError, match=r"q is torch.int32"):
        mfjit.evo_attention(q.int(), k, v)
    with pytest.raises(TypeError, match=r"k is torch.float32 but q is torch.float64"):
        mfjit.evo_attention(q, k.float(), v)
    with pytest.raises(TypeError, match=r"bias is torch.float16"):
        mfjit.evo_attention(q, k, v, bias.half())
    with pytest.raises(TypeError, match=r"mask is torch.int64"):
        mfjit.evo_attention(q, k, v, None, mask.long())
    with pytest.raises(TypeError, match=r"must be a torch.Tensor"):
        mfjit.evo_attention(q.numpy(), k, v)
    with pytest.raises(TypeError, match=r"additive mask"):
        mfjit.evoformer_attention(q, k, v, [mask])


def test_non_tensor_mask_and_bad_scale_name_the_argument():
    q, k, v, bias, mask = layout_inputs("canonical")
    with pytest.raises(TypeError, match=r"mask must be a torch.Tensor, not float"):
        mfjit.evo_attention(q, k, v, None, 3.0)
    with pytest.raises(TypeError, match=r"bias must be a torch.Tensor, not list"):
        mfjit.evo_attention(q, k, v, [1.0])
    with pytest.raises(TypeError, match=r"scale must be a real number, not str"):
        mfjit.evo_attention(q, k, v, scale="abc")
    for bad in (0.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"scale must be finite and nonzero"):
            mfjit.evo_attention(q, k, v, scale=bad)


def test_device_mismatch_raises():
    q, k, v, bias, _ = layout_inputs("canonical")
    with pytest.raises(ValueError, match=r"bias is on meta but the first input is on cpu"):
        mfjit.evo_attention(q, k, v, bias.to("meta"))


def test_non_broadcastable_bias_and_mask_raise():
    q, k, v, _, _ = layout_inputs("canonical", B=2, rows=3, n=7, H=2)
    with pytest.raises(ValueError, match=r"bias of shape \(2, 3, 2, 7, 5\) does not broadcast to \[B, S, H, N, N\]"):
        mfjit.evo_attention(q, k, v, torch.randn(2, 3, 2, 7, 5, dtype=q.dtype))
    with pytest.raises(ValueError, match=r"bias has rank 6"):
        mfjit.evo_attention(q, k, v, torch.randn(1, 2, 3, 2, 7, 7, dtype=q.dtype))
    with pytest.raises(ValueError, match=r"mask of shape \(2, 3, 1, 1, 6\)"):
        mfjit.evo_attention(q, k, v, None, torch.ones(2, 3, 1, 1, 6, dtype=torch.bool))
    tq, tk, tv, _, _ = layout_inputs("triangle_start", n=7)
    with pytest.raises(ValueError, match=r"mask of shape \(2, 7, 6\) does not broadcast to \[2, 7, 7\]"):
        mfjit.evo_attention(tq, tk, tv, None, torch.ones(2, 7, 6, dtype=torch.bool), layout="triangle_start")


def test_layout_rules_raise():
    q, k, v, bias, _ = layout_inputs("msa_row")
    with pytest.raises(ValueError, match=r"layout 'msa_column' takes no bias"):
        mfjit.evo_attention(q, k, v, bias, layout="msa_column")
    with pytest.raises(ValueError, match=r"layout 'rows'"):
        mfjit.evo_attention(q, k, v, layout="rows")
    with pytest.raises(ValueError, match=r"layout 'single' takes rank 4"):
        mfjit.evo_attention(q, k, v, layout="single")
    with pytest.raises(ValueError, match=r"k has shape"):
        mfjit.evo_attention(q, k[:, :, :3], v)
    with pytest.raises(ValueError, match=r"dbias_mode 'quick'"):
        mfjit.evo_attention(q, k, v, dbias_mode="quick")
    with pytest.raises(ValueError, match=r"layout 'rows'"):
        mfjit.EvoAttention(layout="rows")


def test_the_library_s_own_refusals_are_value_errors():
    q, k, v, _, _ = layout_inputs("canonical", D=16)
    with pytest.raises(mfjit.MfjitArgumentError) as caught:
        mfjit.evo_attention(q[..., :0], k[..., :0], v[..., :0])  # D = 0: only the library knows the rule
    assert isinstance(caught.value, ValueError)
    assert "MF_ERROR" in str(caught.value)
