"""mfjit.jax (the XLA FFI custom calls of python/xla_ffi) on the cpu backend, against float64
jnp references: every EvoAttention layout × mask kind × bias kind, values and gradients,
jax.test_util.check_grads, jit, vmap (folded into B and per element), donation, the
normalisation and transition operators, describe/tune and bad inputs.

Skips when jax is not installed (tools/setup.sh installs it, so CI runs these)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

# Small programs: XLA's cpu compiler without its expensive optimisations compiles them faster.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")
jax = pytest.importorskip("jax", reason="jax is not installed (pip install jax): mfjit.jax is not tested")
import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

jax.config.update("jax_enable_x64", True)

import mfjit.jax as mfj  # noqa: E402

LAYOUTS = list(mfj.LAYOUTS)
KEYS_SECOND = ("triangle_end", "msa_column")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def relative_error(out, ref) -> float:
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    assert not np.isnan(out).any(), "NaN in the result"
    return float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30))


# ---- references ------------------------------------------------------------------------------


def _mask_term(mask):
    return jnp.where(mask, 0.0, -jnp.inf) if mask.dtype == jnp.bool_ else mask.astype(jnp.float64)


def evo_reference(q, k, v, bias=None, mask=None, layout="canonical", scale=None):
    """The layout's definition spelled out in float64 on canonical [B, S, N, H, D]; rows
    whose keys are all dropped give 0."""
    q, k, v = (t.astype(jnp.float64) for t in (q, k, v))
    single, transposed = layout == "single", layout in KEYS_SECOND

    def canonical(t):
        t = t[:, None] if single else t
        return jnp.swapaxes(t, 1, 2) if transposed else t

    cq, ck, cv = (canonical(t) for t in (q, k, v))
    c = q.shape[-1] ** -0.5 if scale is None else scale
    logits = c * jnp.einsum("bsqhd,bskhd->bshqk", cq, ck)
    if bias is not None:
        b = bias.astype(jnp.float64)
        logits = logits + (b if layout == "canonical" else b[:, None])
    if mask is not None:
        m = mask
        if layout != "canonical":
            m = m[:, None] if single else m
            m = jnp.swapaxes(m, 1, 2) if transposed else m
            m = m[:, :, None, None, :]
        logits = logits + _mask_term(m)
    dropped = jnp.all(jnp.isneginf(logits), -1, keepdims=True)
    p = jnp.where(dropped, 0.0, jax.nn.softmax(jnp.where(dropped, 0.0, logits), -1))
    o = jnp.einsum("bshqk,bskhd->bsqhd", p, cv)
    o = jnp.swapaxes(o, 1, 2) if transposed else o
    return o[:, 0] if single else o


def layer_norm(x, gamma, beta, eps=1e-5):
    x = x.astype(jnp.float64)
    mean = x.mean(-1, keepdims=True)
    y = (x - mean) / jnp.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps) * gamma
    return y + beta if beta is not None else y


def layer_norm_linear_reference(x, gamma, beta, weight, bias=None):
    y = layer_norm(x, gamma, beta) @ weight.astype(jnp.float64)
    return y + bias if bias is not None else y


def transition_reference(x, w1, w2, gamma=None, beta=None):
    h = layer_norm(x, gamma, beta) if gamma is not None else x.astype(jnp.float64)
    a, g = jnp.split(h @ w1.astype(jnp.float64), 2, axis=-1)
    return (a * jax.nn.silu(g)) @ w2.astype(jnp.float64)


# ---- inputs ----------------------------------------------------------------------------------


def evo_inputs(rng, layout, bias_kind="full", mask_kind="bool", B=2, X=3, Y=5, H=2, D=16, dtype=np.float64):
    """q, k, v, bias, mask in the layout's own shapes (X rows, Y columns: non-square, so a
    transposition that is wrong cannot pass). bias_kind: "full", "broadcast" (over B, or
    canonical's S) or None; mask_kind: "bool" (full), "additive" (broadcast over the rows
    that are not keys) or None."""
    shape = (B, Y, H, D) if layout == "single" else (B, X, Y, H, D)
    keys = X if layout in KEYS_SECOND else Y

    def normal(*s):
        return jnp.asarray(rng.standard_normal(s), dtype)

    q, k, v = (normal(*shape) for _ in range(3))
    bias = None
    if bias_kind is not None and layout != "msa_column":
        if layout == "canonical":
            bias = normal(B, 1 if bias_kind == "broadcast" else X, H, Y, Y)
        else:
            bias = normal(1 if bias_kind == "broadcast" else B, H, keys, keys)
    rows = {"canonical": (B, X, 1, 1, Y), "single": (B, Y)}.get(layout, (B, X, Y))
    mask = None
    if mask_kind == "bool":
        mask = jnp.asarray(rng.random(rows) > 0.3)
    elif mask_kind == "additive":
        broadcast = list(rows)
        if layout == "canonical":
            broadcast[1] = 1
        elif layout != "single":
            broadcast[1 if layout not in KEYS_SECOND else 2] = 1
        mask = normal(*broadcast)
    return q, k, v, bias, mask


def vjp_of(function, primals, cotangent):
    out, pullback = jax.vjp(function, *primals)
    return out, pullback(cotangent)


def assert_evo_matches(layout, q, k, v, bias, mask, tol, **kwargs):
    """Value and the vjp of q, k, v (and bias) under a random cotangent, jitted, against the reference."""
    primals = (q, k, v) + ((bias,) if bias is not None else ())

    def ours(q, k, v, b=None):
        return mfj.evo_attention(q, k, v, b, mask, layout=layout, **kwargs)

    def ref(q, k, v, b=None):
        return evo_reference(q, k, v, b, mask, layout, kwargs.get("scale"))

    cotangent = jnp.asarray(np.random.default_rng(7).standard_normal(q.shape), q.dtype)
    out, grads = jax.jit(lambda *p: vjp_of(ours, p, cotangent))(*primals)
    ref_primals = tuple(p.astype(jnp.float64) for p in primals)
    ref_out, ref_grads = vjp_of(ref, ref_primals, cotangent.astype(jnp.float64))
    assert out.shape == q.shape and out.dtype == q.dtype
    assert relative_error(out, ref_out) < tol, layout
    for name, g, rg, p in zip("qkvb", grads, ref_grads, primals):
        assert g.shape == p.shape and g.dtype == p.dtype, name
        assert relative_error(g, rg) < 4 * tol, (layout, name)


# ---- plans and tuning (first: tune() tunes every untuned problem the run's database holds) ----


def test_plans_are_cached_and_described():
    mfj.forget_plans()
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 16)))
    w1, w2 = jnp.ones((16, 32)) / 16, jnp.ones((16, 16)) / 16
    for _ in range(3):
        jax.grad(lambda x: mfj.transition(x, w1, w2).sum())(x)
    described = mfj.describe("transition")
    assert sorted(d["direction"]["pass"] for d in described) == ["backward", "forward"]
    assert all(d["backend"] == "cpu" for d in described)
    assert mfj.describe("evo_attention") == []
    mfj.forget_plans()
    assert mfj.describe() == []


def test_tune_then_the_next_trace_uses_the_winner():
    mfj.forget_plans()
    x = jnp.asarray(np.random.default_rng(0).standard_normal((33, 64)), jnp.float32)
    w1 = jnp.asarray(np.random.default_rng(1).standard_normal((64, 128)) / 8, jnp.float32)
    w2 = jnp.asarray(np.random.default_rng(2).standard_normal((64, 64)) / 8, jnp.float32)
    f = jax.jit(mfj.transition)
    before = f(x, w1, w2)
    (untuned,) = mfj.describe("transition")
    if untuned["config_source"].startswith("tuned"):
        pytest.skip("this problem is already tuned in the test run's database")
    tuned = mfj.tune(strategy="exhaustive", trials=4)
    assert {"backend": "cpu", "device": 0, "database": untuned["tuning_db"]} in tuned
    assert mfj.describe() == []
    after = f(x, w1, w2)
    (plan,) = mfj.describe("transition")
    assert plan["config_source"] == "tuned:exact"
    assert relative_error(after, before) < 1e-5


# ---- EvoAttention ----------------------------------------------------------------------------


MATRIX = [(layout, mask_kind, bias_kind) for layout in LAYOUTS for mask_kind in ("bool", "additive", None)
          for bias_kind in (("full", "broadcast", None) if layout != "msa_column" else (None,))]


@pytest.mark.parametrize("layout, mask_kind, bias_kind", MATRIX,
                         ids=[f"{layout}-mask_{mask}-bias_{bias}" for layout, mask, bias in MATRIX])
def test_evo_attention_matches_the_reference(rng, layout, mask_kind, bias_kind):
    q, k, v, bias, mask = evo_inputs(rng, layout, bias_kind, mask_kind)
    assert_evo_matches(layout, q, k, v, bias, mask, 1e-10)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_evo_attention_float32_and_explicit_scale(rng, layout):
    q, k, v, bias, mask = evo_inputs(rng, layout, "full", "bool", dtype=np.float32)
    assert_evo_matches(layout, q, k, v, bias, mask, 1e-5, scale=0.3)


def test_evo_attention_float32_bias_with_half_precision_inputs(rng):
    q, k, v, bias, mask = evo_inputs(rng, "triangle_start", "full", "additive", dtype=np.float32)
    q, k, v = (t.astype(jnp.bfloat16) for t in (q, k, v))
    o = jax.jit(lambda *a: mfj.evo_attention(*a, layout="triangle_start"))(q, k, v, bias, mask)
    assert o.dtype == jnp.bfloat16
    assert relative_error(o, evo_reference(q, k, v, bias, mask, "triangle_start")) < 1e-2


@pytest.mark.parametrize("layout", LAYOUTS)
def test_evo_attention_check_grads(rng, layout):
    q, k, v, bias, mask = evo_inputs(rng, layout, "broadcast", "additive", B=1, X=2, Y=3, H=1, D=16)
    if bias is None:
        check_grads(jax.jit(lambda q, k, v: mfj.evo_attention(q, k, v, None, mask, layout=layout)), (q, k, v),
                    order=1, modes=["rev"])
    else:
        check_grads(jax.jit(lambda q, k, v, b: mfj.evo_attention(q, k, v, b, mask, layout=layout)), (q, k, v, bias),
                    order=1, modes=["rev"])


def test_fully_masked_rows_give_zeros_and_zero_gradients(rng):
    q, k, v, bias, _ = evo_inputs(rng, "triangle_start", "full", None)
    mask = jnp.ones(q.shape[:3], bool).at[:, 1, :].set(False)  # row i = 1 drops every key
    o, grads = jax.jit(lambda *p: vjp_of(lambda q, k, v, b: mfj.evo_attention(q, k, v, b, mask,
                                                                             layout="triangle_start"),
                                         p, jnp.ones_like(q)))(q, k, v, bias)
    assert not np.isnan(np.asarray(o)).any()
    assert np.all(np.asarray(o[:, 1]) == 0.0)
    assert np.all(np.asarray(grads[0][:, 1]) == 0.0)


def test_mask_broadcast_over_keys_and_leading_dimensions(rng):
    q, k, v, bias, _ = evo_inputs(rng, "triangle_start", "full", None)
    row_mask = jnp.asarray(rng.standard_normal((3, 1)))  # [I, 1]: one additive value per row, every key
    o = mfj.evo_attention(q, k, v, bias, row_mask, layout="triangle_start")
    assert relative_error(o, evo_reference(q, k, v, bias, jnp.broadcast_to(row_mask, (2, 3, 5)),
                                           "triangle_start")) < 1e-10


def test_dbias_mode_fast_gives_the_same_gradients_on_the_cpu(rng):
    q, k, v, bias, mask = evo_inputs(rng, "triangle_end", "broadcast", "bool")
    assert_evo_matches("triangle_end", q, k, v, bias, mask, 1e-10, dbias_mode="fast")


# ---- vmap ------------------------------------------------------------------------------------


def evo_loss(layout, reference=False):
    def loss(q, k, v, bias, mask):
        f = evo_reference if reference else mfj.evo_attention
        o = f(q, k, v, bias, mask, layout=layout) if not reference else f(q, k, v, bias, mask, layout)
        return (o.astype(jnp.float64) ** 2).sum()
    return loss


@pytest.mark.parametrize("in_axes", [(0, 0, 0, 0, 0), (0, 0, 0, None, None)],
                         ids=["all batched", "bias and mask shared"])
def test_vmap_values_and_per_example_gradients(rng, in_axes):
    """vmap over a leading batch of triangle attention: the forward folds into B; vmap(grad)
    gives each element's own gradients, the shared bias's too."""
    V = 3
    q, k, v, _, _ = evo_inputs(rng, "triangle_start", None, None, B=1)
    q, k, v = (jnp.stack([t * (i + 1) for i in range(V)]) for t in (q, k, v))
    bias = jnp.asarray(rng.standard_normal((V, 1, 2, 5, 5)))
    mask = jnp.asarray(rng.random((V, 1, 3, 5)) > 0.3)
    bias = bias if in_axes[3] == 0 else bias[0]
    mask = mask if in_axes[4] == 0 else mask[0]
    args = (q, k, v, bias, mask)
    mfj.forget_plans()
    o = jax.jit(jax.vmap(lambda *a: mfj.evo_attention(*a, layout="triangle_start"), in_axes))(*args)
    ref = jax.jit(jax.vmap(lambda *a: evo_reference(*a, layout="triangle_start"), in_axes))(*args)
    assert relative_error(o, ref) < 1e-10
    # One plan for the batch element (made while tracing), one for the batch folded into B.
    assert sorted(plan["problem"]["desc"]["q"]["shape"][0] for plan in mfj.describe()) == [1, V]
    grads = jax.jit(jax.vmap(jax.grad(evo_loss("triangle_start"), argnums=(0, 1, 2, 3)), in_axes))(*args)
    ref_grads = jax.jit(jax.vmap(jax.grad(evo_loss("triangle_start", True), argnums=(0, 1, 2, 3)), in_axes))(*args)
    for name, g, rg in zip("qkvb", grads, ref_grads):
        assert g.shape == rg.shape, name
        assert relative_error(g, rg) < 1e-9, name
    # grad of the vmapped loss: the shared bias's gradient summed over the batch.
    total = jax.jit(jax.grad(lambda *a: jax.vmap(evo_loss("triangle_start"), in_axes)(*a).sum(), argnums=3))(*args)
    ref_total = jax.jit(jax.grad(lambda *a: jax.vmap(evo_loss("triangle_start", True), in_axes)(*a).sum(),
                                 argnums=3))(*args)
    assert relative_error(total, ref_total) < 1e-9


def test_vmap_that_cannot_fold_runs_each_element(rng):
    """A bias shared by the vmapped batch but not by the layout's own B (B = 2): each element in turn."""
    q, k, v, bias, mask = evo_inputs(rng, "triangle_end", "full", "bool", B=2)
    batched = [jnp.stack([t, t[::-1]]) for t in (q, k, v, mask)]
    in_axes = (0, 0, 0, None, 0)
    args = (*batched[:3], bias, batched[3])
    mfj.forget_plans()
    o = jax.jit(jax.vmap(lambda *a: mfj.evo_attention(*a, layout="triangle_end"), in_axes))(*args)
    assert [plan["problem"]["desc"]["q"]["shape"][0] for plan in mfj.describe()] == [2]  # no folded plan
    ref = jax.jit(jax.vmap(lambda *a: evo_reference(*a, layout="triangle_end"), in_axes))(*args)
    assert relative_error(o, ref) < 1e-10
    grads = jax.jit(jax.vmap(jax.grad(evo_loss("triangle_end"), argnums=(0, 3)), in_axes))(*args)
    ref_grads = jax.jit(jax.vmap(jax.grad(evo_loss("triangle_end", True), argnums=(0, 3)), in_axes))(*args)
    for g, rg in zip(grads, ref_grads):
        assert relative_error(g, rg) < 1e-9


def test_nested_vmap_of_single_attention(rng):
    q, k, v, bias, mask = evo_inputs(rng, "single", "full", "additive", B=1)
    q, k, v = (jnp.broadcast_to(t, (2, 3) + t.shape) * jnp.arange(1.0, 7.0).reshape(2, 3, 1, 1, 1, 1)
               for t in (q, k, v))
    f = jax.vmap(jax.vmap(lambda q, k, v: mfj.evo_attention(q, k, v, bias, mask, layout="single")))
    ref = jax.jit(jax.vmap(jax.vmap(lambda q, k, v: evo_reference(q, k, v, bias, mask, "single"))))
    assert relative_error(jax.jit(f)(q, k, v), ref(q, k, v)) < 1e-10


# ---- jit details -----------------------------------------------------------------------------


def test_jit_with_donated_arguments(rng):
    q, k, v, bias, mask = evo_inputs(rng, "msa_row", "full", "bool")
    expected = evo_reference(q, k, v, bias, mask, "msa_row")
    step = jax.jit(lambda q, k, v: mfj.evo_attention(q, k, v, bias, mask, layout="msa_row"), donate_argnums=(0,))
    assert relative_error(step(jnp.array(q), k, v), expected) < 1e-10


# ---- LayerNormLinear and Transition ----------------------------------------------------------


@pytest.mark.parametrize("with_biases", [True, False])
def test_layer_norm_linear_matches_the_reference(rng, with_biases):
    x = jnp.asarray(rng.standard_normal((2, 5, 16)))
    gamma, beta = jnp.asarray(rng.standard_normal(16)), jnp.asarray(rng.standard_normal(16))
    weight, bias = jnp.asarray(rng.standard_normal((16, 8))), jnp.asarray(rng.standard_normal(8))
    if not with_biases:
        beta = bias = None
    primals = [t for t in (x, gamma, beta, weight, bias) if t is not None]

    def split(p):
        it = iter(p)
        return [next(it) if t is not None else None for t in (x, gamma, beta, weight, bias)]

    cotangent = jnp.asarray(rng.standard_normal((2, 5, 8)))
    out, grads = jax.jit(lambda *p: vjp_of(lambda *p: mfj.layer_norm_linear(*split(p)), p, cotangent))(*primals)
    ref, ref_grads = jax.jit(lambda *p: vjp_of(lambda *p: layer_norm_linear_reference(*split(p)), p, cotangent))(
        *primals)
    assert out.shape == (2, 5, 8)
    assert relative_error(out, ref) < 1e-10
    for g, rg in zip(grads, ref_grads):
        assert relative_error(g, rg) < 1e-9
    if with_biases:
        check_grads(jax.jit(lambda *p: mfj.layer_norm_linear(*split(p))), primals, order=1, modes=["rev"])


@pytest.mark.parametrize("with_layer_norm", [True, False])
def test_transition_matches_the_reference(rng, with_layer_norm):
    x = jnp.asarray(rng.standard_normal((3, 4, 16)))
    w1, w2 = jnp.asarray(rng.standard_normal((16, 64)) / 4), jnp.asarray(rng.standard_normal((32, 16)) / 4)
    gamma = jnp.asarray(rng.standard_normal(16)) if with_layer_norm else None
    beta = jnp.asarray(rng.standard_normal(16)) if with_layer_norm else None
    primals = [t for t in (x, w1, w2, gamma, beta) if t is not None]

    def ours(*p):
        return mfj.transition(*p)

    cotangent = jnp.asarray(rng.standard_normal(x.shape))
    out, grads = jax.jit(lambda *p: vjp_of(ours, p, cotangent))(*primals)
    ref, ref_grads = jax.jit(lambda *p: vjp_of(transition_reference, p, cotangent))(*primals)
    assert out.shape == x.shape
    assert relative_error(out, ref) < 1e-10
    for g, rg in zip(grads, ref_grads):
        assert relative_error(g, rg) < 1e-9
    if with_layer_norm:
        check_grads(jax.jit(ours), primals, order=1, modes=["rev"])


def test_vmap_of_the_row_operators_gives_per_example_weight_gradients(rng):
    xs = jnp.asarray(rng.standard_normal((3, 4, 16)))
    gamma, beta = jnp.asarray(rng.standard_normal(16)), jnp.asarray(rng.standard_normal(16))
    weight = jnp.asarray(rng.standard_normal((16, 8)))
    w1, w2 = jnp.asarray(rng.standard_normal((8, 32)) / 4), jnp.asarray(rng.standard_normal((16, 8)) / 4)

    def loss(x, weight, w1, f_lnl, f_transition):
        h = f_lnl(x, gamma, beta, weight)
        return (f_transition(h, w1, w2, gamma[:8], beta[:8]) ** 2).sum()

    ours = jax.jit(jax.vmap(jax.grad(lambda x, w, w1: loss(x, w, w1, mfj.layer_norm_linear, mfj.transition),
                                     argnums=(0, 1, 2)), (0, None, None)))
    ref = jax.jit(jax.vmap(jax.grad(lambda x, w, w1: loss(x, w, w1, layer_norm_linear_reference,
                                                          transition_reference),
                                    argnums=(0, 1, 2)), (0, None, None)))
    for g, rg in zip(ours(xs, weight, w1), ref(xs, weight, w1)):
        assert g.shape == rg.shape
        assert relative_error(g, rg) < 1e-9


# ---- bad inputs ------------------------------------------------------------------------------


def test_bad_evo_attention_inputs_name_the_argument(rng):
    q, k, v, bias, mask = evo_inputs(rng, "triangle_start", "full", "bool")
    f = mfj.evo_attention
    with pytest.raises(ValueError, match="layout 'diagonal'"):
        f(q, k, v, layout="diagonal")
    with pytest.raises(ValueError, match="dbias_mode 'slow'"):
        f(q, k, v, dbias_mode="slow")
    with pytest.raises(TypeError, match="q must be an array, not list"):
        f([1.0], k, v)
    with pytest.raises(TypeError, match="q is int32"):
        f(q.astype(jnp.int32), k, v)
    with pytest.raises(TypeError, match="k is float32 but q is float64"):
        f(q, k.astype(jnp.float32), v, layout="triangle_start")
    with pytest.raises(ValueError, match=r"v has shape \(2, 3, 4, 2, 16\)"):
        f(q, k, v[:, :, :4], layout="triangle_start")
    with pytest.raises(ValueError, match="q has shape .* takes rank 4"):
        f(q, k, v, layout="single")
    with pytest.raises(ValueError, match="layout 'msa_column' takes no bias"):
        f(q, k, v, bias, layout="msa_column")
    with pytest.raises(TypeError, match="bias is int32"):
        f(q, k, v, bias.astype(jnp.int32), layout="triangle_start")
    with pytest.raises(ValueError, match=r"bias of shape \(2, 2, 4, 5\) does not broadcast"):
        f(q, k, v, bias[:, :, :4], layout="triangle_start")
    with pytest.raises(ValueError, match="mask of shape .* does not broadcast"):
        f(q, k, v, bias, mask[:, :2], layout="triangle_start")
    with pytest.raises(TypeError, match="mask is int32"):
        f(q, k, v, bias, mask.astype(jnp.int32), layout="triangle_start")
    with pytest.raises(ValueError, match="scale must be finite and nonzero"):
        f(q, k, v, layout="triangle_start", scale=0.0)
    with pytest.raises(TypeError, match="scale must be a real number"):
        f(q, k, v, layout="triangle_start", scale="1")
    # What only the library checks comes back as its error, at trace time: a head dim too large.
    big = jnp.zeros((1, 2, 3, 1, 1024))
    with pytest.raises(mfj.MfjitError, match="head dim"):
        jax.jit(lambda q: f(q, q, q, layout="triangle_start"))(big)


def test_bad_row_operator_inputs_name_the_argument(rng):
    x = jnp.asarray(rng.standard_normal((4, 16)))
    gamma, weight = jnp.ones(16), jnp.ones((16, 8))
    with pytest.raises(ValueError, match=r"weight has shape \(8, 16\); it must be \[K, N\] with K = x.shape\[-1\] = 16"):
        mfj.layer_norm_linear(x, gamma, None, weight.T)
    with pytest.raises(ValueError, match="eps must be a positive finite number"):
        mfj.layer_norm_linear(x, gamma, None, weight, eps=0.0)
    with pytest.raises(ValueError, match="x has no features"):
        mfj.layer_norm_linear(x[:, :0], gamma, None, weight)
    with pytest.raises(TypeError, match="ln_weight must be an array, not NoneType"):
        mfj.layer_norm_linear(x, None, None, weight)
    with pytest.raises(ValueError, match=r"bias has shape \(7,\); it must be \[N\] = \[8\]"):
        mfj.layer_norm_linear(x, gamma, None, weight, jnp.ones(7))
    w1, w2 = jnp.ones((16, 64)), jnp.ones((32, 16))
    with pytest.raises(ValueError, match=r"w1 has shape \(16, 63\)"):
        mfj.transition(x, w1[:, :63], w2)
    with pytest.raises(ValueError, match=r"w2 has shape \(16, 32\); it must be \[F, D\] = \[32, 16\]"):
        mfj.transition(x, w1, w2.T)
    with pytest.raises(ValueError, match="ln_bias without ln_weight"):
        mfj.transition(x, w1, w2, None, jnp.ones(16))
    with pytest.raises(TypeError, match="w1 is int32"):
        mfj.transition(x, w1.astype(jnp.int32), w2)


# ---- without torch ---------------------------------------------------------------------------


def test_importable_and_running_without_torch(tmp_path):
    """mfjit.jax in a process where torch cannot be imported."""
    script = tmp_path / "no_torch.py"
    script.write_text(
        "import sys\n"
        "sys.modules['torch'] = None  # import torch raises ImportError\n"
        "import jax.numpy as jnp\n"
        "import mfjit.jax as mfj\n"
        "x = jnp.ones((3, 8), jnp.float32)\n"
        "y = mfj.layer_norm_linear(x, jnp.ones(8), None, jnp.ones((8, 4)))\n"
        "assert y.shape == (3, 4) and 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print('ok')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(pathlib.Path(mfj.__file__).parents[2])] +
                                                      [p for p in [os.environ.get("PYTHONPATH")] if p]))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "ok"
