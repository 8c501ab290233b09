"""Tests of the C API binding (mfjit.capi) and the runners (mfjit.runners) on the cpu backend
with numpy (no GPU, no torch needed).

Forward and backward of small triangle-attention problems through the ctypes binding,
against a float64 numpy implementation of DESIGN.md §1.1; the ctypes structs against the
C header (when a C compiler is present); and errors raised with status name and message.
"""

from __future__ import annotations

import ctypes
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mfjit import capi, runners

REPO = pathlib.Path(__file__).resolve().parents[2]


# ---- the float64 reference (DESIGN.md §1.1) -------------------------------------------------


def mask_term(mask):
    if mask is None:
        return 0.0
    if mask.dtype == np.bool_:
        return np.where(mask, 0.0, -np.inf)
    return mask.astype(np.float64)


def reference_forward(q, k, v, bias, mask, scale):
    """(o, lse, p) in float64. Logits are [B, S, H, Nq, Nk]; the mask [B, S, 1, 1, N] broadcasts."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    logits = scale * np.einsum("bsqhd,bskhd->bshqk", q, k)
    if bias is not None:
        logits = logits + bias.astype(np.float64)
    logits = logits + mask_term(mask)
    m = logits.max(axis=-1, keepdims=True)
    dead = np.isneginf(m)  # every key dropped
    m_safe = np.where(dead, 0.0, m)
    with np.errstate(divide="ignore"):
        lse = np.log(np.exp(logits - m_safe).sum(axis=-1, keepdims=True)) + m_safe
    lse = np.where(dead, np.inf, lse)
    p = np.exp(logits - lse)
    o = np.einsum("bshqk,bskhd->bsqhd", p, v)
    return o, lse[..., 0], p


def reference_backward(q, k, v, bias, mask, scale, d_o):
    """(dq, dk, dv, dbias) in float64; dbias summed over the dimensions the bias broadcasts."""
    o, _, p = reference_forward(q, k, v, bias, mask, scale)
    q, k, v, d_o = (x.astype(np.float64) for x in (q, k, v, d_o))
    delta = np.einsum("bsqhd,bsqhd->bshq", d_o, o)
    dp = np.einsum("bsqhd,bskhd->bshqk", d_o, v)
    ds = p * (dp - delta[..., None])
    dq = scale * np.einsum("bshqk,bskhd->bsqhd", ds, k)
    dk = scale * np.einsum("bshqk,bsqhd->bskhd", ds, q)
    dv = np.einsum("bshqk,bsqhd->bskhd", p, d_o)
    dbias = None
    if bias is not None:
        axes = tuple(d for d in range(5) if bias.shape[d] == 1 and ds.shape[d] > 1)
        dbias = ds.sum(axis=axes, keepdims=True)
    return dq, dk, dv, dbias


def rel_err(x, ref):
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    assert not np.isnan(x).any(), "NaN in the result"
    den = np.linalg.norm(ref)
    return np.linalg.norm(x - ref) / (den if den > 0 else 1.0)


TOL = {np.float64: 1e-10, np.float32: 1e-5}


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def library():
    try:
        return capi.load_library()
    except FileNotFoundError as e:
        pytest.skip(f"libmfjit.so not built: {e}")


@pytest.fixture()
def evo(library, tmp_path):
    op = runners.EvoAttention(library=library, cpu_threads=2, cache_dir=str(tmp_path / "cache"),
                         db_path=str(tmp_path / "tuning.db"))
    yield op
    op.close()


def triangle_problem(rng, n=9, heads=2, head_dim=8, dtype=np.float32, mask_kind="boolean", dead_row=None):
    """Triangle attention (starting node): Q/K/V [1, N, N, H, D], bias [1, 1, H, N, N],
    mask [1, N, 1, 1, N] with some keys dropped (row `dead_row` fully masked if given)."""
    shape = (1, n, n, heads, head_dim)
    q, k, v = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    bias = rng.standard_normal((1, 1, heads, n, n)).astype(dtype)
    mask = rng.random((1, n, 1, 1, n)) > 0.25
    mask[..., 0] = True  # no fully masked row unless asked
    if dead_row is not None:
        mask[:, dead_row] = False
    if mask_kind == "additive":
        mask = np.where(mask, 0.0, -1e4).astype(dtype) + rng.standard_normal(mask.shape).astype(dtype) * 0.1
    elif mask_kind == "none":
        mask = None
    return q, k, v, bias, mask


# ---- tests ----------------------------------------------------------------------------------


def test_library_basics(library):
    assert library.version().count(".") == 2
    assert library.device_count("cpu") == 1
    info = library.device_info("cpu", 0)
    assert info["multiprocessors"] >= 1 and info["driver_version"] == 0
    assert library.status_name(capi.MF_ERROR_SHAPE_MISMATCH) == "MF_ERROR_SHAPE_MISMATCH"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mask_kind", ["boolean", "additive", "none"])
def test_triangle_forward_backward(evo, dtype, mask_kind):
    rng = np.random.default_rng(7)
    q, k, v, bias, mask = triangle_problem(rng, dtype=dtype, mask_kind=mask_kind)
    scale = 1.0 / np.sqrt(q.shape[-1])

    o, lse = evo.forward(q, k, v, bias, mask)
    assert o.dtype == dtype and o.shape == q.shape and lse.dtype == np.float32 and lse.shape == (1, 9, 2, 9)
    o_ref, lse_ref, _ = reference_forward(q, k, v, bias, mask, scale)
    assert rel_err(o, o_ref) < TOL[dtype]
    assert rel_err(lse, lse_ref) < 1e-6  # lse is f32, natural log

    d_o = rng.standard_normal(q.shape).astype(dtype)
    dq, dk, dv, dbias = evo.backward(q, k, v, o, lse, d_o, bias, mask)
    refs = reference_backward(q, k, v, bias, mask, scale, d_o)
    for name, got, ref in zip(("dq", "dk", "dv", "dbias"), (dq, dk, dv, dbias), refs):
        assert got.shape == ref.shape and got.dtype == dtype, name
        assert rel_err(got, ref) < TOL[dtype], name

    plans = evo.plans()
    assert len(plans) == 2
    described = [p.describe() for p in plans]
    assert {d["direction"]["pass"] for d in described} == {"forward", "backward"}
    assert all(d["op"] == "evo_attention" and d["workspace_bytes"] == 0 for d in described)
    assert all(p.workspace_size == 0 for p in plans)  # cpu


def test_plans_are_cached(evo):
    rng = np.random.default_rng(1)
    q, k, v, bias, mask = triangle_problem(rng)
    for _ in range(3):
        o, lse = evo.forward(q, k, v, bias, mask)
    assert len(evo.plans()) == 1
    evo.forward(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), bias, mask)  # new dtypes
    assert len(evo.plans()) == 2


def test_explicit_scale_and_gradient_subset(library, tmp_path):
    rng = np.random.default_rng(3)
    q, k, v, bias, mask = triangle_problem(rng, n=5, dtype=np.float64)
    evo = runners.EvoAttention(scale=0.3, library=library, cache_dir=str(tmp_path))
    o, lse = evo.forward(q, k, v, bias, mask)
    assert rel_err(o, reference_forward(q, k, v, bias, mask, 0.3)[0]) < 1e-10
    d_o = rng.standard_normal(q.shape)
    dq, dk, dv, dbias = evo.backward(q, k, v, o, lse, d_o, bias, mask, gradients=["q", "bias"])
    assert dk is None and dv is None
    rq, _, _, rbias = reference_backward(q, k, v, bias, mask, 0.3, d_o)
    assert rel_err(dq, rq) < 1e-10 and rel_err(dbias, rbias) < 1e-10
    evo.close()


def test_fully_masked_row_is_zero_not_nan(evo):
    rng = np.random.default_rng(11)
    q, k, v, bias, mask = triangle_problem(rng, n=6, dtype=np.float64, dead_row=2)
    o, lse = evo.forward(q, k, v, bias, mask)
    assert np.all(o[:, 2] == 0.0) and np.all(np.isposinf(lse[:, 2]))
    assert np.isfinite(o).all()
    d_o = rng.standard_normal(q.shape)
    dq, dk, dv, dbias = evo.backward(q, k, v, o, lse, d_o, bias, mask)
    assert np.all(dq[:, 2] == 0) and np.all(dk[:, 2] == 0) and np.all(dv[:, 2] == 0)
    for got, ref in zip((dq, dk, dv, dbias), reference_backward(q, k, v, bias, mask, q.shape[-1] ** -0.5, d_o)):
        assert rel_err(got, ref) < 1e-10


def test_ending_node_by_transposed_strides(evo):
    """Triangle attention around the ending node: the same memory with S and N swapped by
    strides (numpy byte strides become element strides), never a copy."""
    rng = np.random.default_rng(5)
    n, h, d = 7, 2, 16
    q, k, v = (rng.standard_normal((1, n, n, h, d)) for _ in range(3))
    qt, kt, vt = (x.swapaxes(1, 2) for x in (q, k, v))
    assert not qt.flags.c_contiguous
    bias = rng.standard_normal((1, 1, h, n, n))
    mask = np.ones((1, n, 1, 1, n), dtype=bool)
    mask[0, :, 0, 0, 3] = False
    o, lse = evo.forward(qt, kt, vt, bias, mask)
    assert rel_err(o, reference_forward(qt, kt, vt, bias, mask, d ** -0.5)[0]) < 1e-10
    d_o = rng.standard_normal((1, n, n, h, d)).swapaxes(1, 2)
    grads = evo.backward(qt, kt, vt, o, lse, d_o, bias, mask)
    for got, ref in zip(grads, reference_backward(qt, kt, vt, bias, mask, d ** -0.5, d_o)):
        assert rel_err(got, ref) < 1e-10


def test_mismatched_shapes_raise_with_argument_name(evo):
    rng = np.random.default_rng(2)
    q, k, v, bias, mask = triangle_problem(rng)
    k_bad = k[:, :, :8]  # N = 8 instead of 9
    with pytest.raises(capi.MfjitError) as info:
        evo.forward(q, k_bad, v, bias, mask)
    err = info.value
    assert err.status == capi.MF_ERROR_SHAPE_MISMATCH and err.status_name == "MF_ERROR_SHAPE_MISMATCH"
    assert "desc.k" in err.message and "MF_ERROR_SHAPE_MISMATCH" in str(err)
    assert err.function == "mf_evo_attention_plan_create"

    bias_bad = bias[..., :5]  # does not broadcast to [1, 9, 2, 9, 9]
    with pytest.raises(capi.MfjitError, match=r"MF_ERROR_SHAPE_MISMATCH.*desc\.bias"):
        evo.forward(q, k, v, bias_bad, mask)


def test_gradient_without_primal_is_rejected(evo):
    rng = np.random.default_rng(4)
    q, k, v, _, mask = triangle_problem(rng)
    o, lse = evo.forward(q, k, v, None, mask)
    with pytest.raises(capi.MfjitError, match=r"MF_ERROR_INVALID_ARGUMENT.*bias"):
        evo.backward(q, k, v, o, lse, o, None, mask, gradients=["q", "bias"])


def test_unavailable_backend_and_missing_library(library, tmp_path, monkeypatch):
    with pytest.raises(capi.MfjitError, match="MF_ERROR_INVALID_ARGUMENT"):
        capi.Context("cpu", cpu_threads=capi.MF_MAX_CPU_THREADS + 1, library=library)
    monkeypatch.setenv("MFJIT_LIBRARY", str(tmp_path / "nope.so"))
    with pytest.raises(FileNotFoundError, match="MFJIT_LIBRARY"):
        capi.find_library()


# ---- the ctypes structs against the header ------------------------------------------------

STRUCTS = {
    "mf_tensor_desc": capi.TensorDesc,
    "mf_context_options": capi.ContextOptions,
    "mf_device_info": capi.DeviceInfo,
    "mf_evo_attention_desc": capi.EvoAttentionDesc,
    "mf_evo_attention_args": capi.EvoAttentionArgs,
    "mf_layer_norm_linear_desc": capi.LayerNormLinearDesc,
    "mf_layer_norm_linear_args": capi.LayerNormLinearArgs,
    "mf_transition_desc": capi.TransitionDesc,
    "mf_transition_args": capi.TransitionArgs,
}

ENUMS = {name: getattr(capi, name) for name in dir(capi)
         if name.startswith(("MF_ERROR_", "MF_DTYPE_", "MF_BACKEND_", "MF_MASK_", "MF_DBIAS_", "MF_EVO_GRAD_", "MF_LNL_GRAD_",
                             "MF_TRANSITION_GRAD_"))
         or name in ("MF_SUCCESS", "MF_FORWARD", "MF_BACKWARD", "MF_MAX_RANK", "MF_MAX_CPU_THREADS")}


def test_structs_and_enums_match_header(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler to read the header's layout")
    lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "mfjit/mfjit.h"', "int main(void) {"]
    for cname, cls in STRUCTS.items():
        lines.append(f'printf("{cname} sizeof %zu\\n", sizeof({cname}));')
        for field, _ in cls._fields_:
            lines.append(f'printf("{cname} {field} %zu %zu\\n", offsetof({cname}, {field}), '
                         f"sizeof((({cname}*)0)->{field}));")
    for name in ENUMS:
        lines.append(f'printf("enum {name} %lld\\n", (long long)({name}));')
    lines += ["return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c99", "-I", str(REPO / "runtime" / "include"), str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split("\n")
    checked = 0
    for line in filter(None, out):
        parts = line.split()
        if parts[0] == "enum":
            assert ENUMS[parts[1]] == int(parts[2]), parts[1]
        elif parts[1] == "sizeof":
            assert ctypes.sizeof(STRUCTS[parts[0]]) == int(parts[2]), parts[0]
        else:
            cls, field = STRUCTS[parts[0]], parts[1]
            descriptor = getattr(cls, field)
            assert (descriptor.offset, descriptor.size) == (int(parts[2]), int(parts[3])), f"{parts[0]}.{field}"
        checked += 1
    assert checked == len(ENUMS) + sum(1 + len(c._fields_) for c in STRUCTS.values())


# ---- torch on the cpu backend (runs where torch is installed, e.g. the GPU machine) ---------


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_torch_autograd_function_on_cpu(library, tmp_path, dtype_name):
    """evo_attention.py's autograd Function over the ctypes binding, with torch cpu tensors
    (the cpu backend), against the numpy reference and against torch autograd of the eager peer."""
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(REPO / "bench"))
    import evo_attention as bench

    dtype = getattr(torch, dtype_name)
    rng = np.random.default_rng(13)
    q, k, v, bias, mask = triangle_problem(rng, n=11, heads=2, head_dim=16, dtype=np.float64, dead_row=4)
    d_o = rng.standard_normal(q.shape)
    tq, tk, tv, tb = (torch.tensor(x, dtype=dtype, requires_grad=True) for x in (q, k, v, bias))
    tm = torch.tensor(mask)
    op = runners.EvoAttention(library=library, cache_dir=str(tmp_path))
    o = bench._MfjitEvoAttention.apply(tq, tk, tv, tb, tm, op)
    o.backward(torch.tensor(d_o, dtype=dtype))
    scale = q.shape[-1] ** -0.5
    tol = TOL[np.float64 if dtype_name == "float64" else np.float32]
    assert rel_err(o.detach().numpy(), reference_forward(q, k, v, bias, mask, scale)[0]) < tol
    for got, ref in zip((tq.grad, tk.grad, tv.grad, tb.grad), reference_backward(q, k, v, bias, mask, scale, d_o)):
        assert rel_err(got.numpy(), ref) < tol
    # the eager peer agrees on rows with at least one key (its fully masked row is NaN by design)
    alive = mask.any(axis=-1)[0, :, 0, 0]
    eager = bench.eager_attention(*(x.detach() for x in (tq, tk, tv, tb)), tm, scale)
    assert rel_err(eager.numpy()[:, alive], o.detach().numpy()[:, alive]) < tol
    op.close()
