"""The custom ops as torch sees them: torch.library.opcheck (schema, fake implementations,
autograd registration, AOT dispatch), torch.compile tracing through them without graph
breaks, and plan caching, describe() and tune()."""

import pytest
import torch

import mfjit
from mfjit import ops
from checks import relative_error
from test_evo_attention import layout_inputs


def evo_sample(device, dtype=torch.float64):
    q, k, v, bias, mask = layout_inputs("canonical", B=1, rows=2, n=5, H=2, dtype=dtype, device=device)
    q, k, v, bias = (t.requires_grad_() for t in (q, k, v, bias))
    return q, k, v, bias, mask[:, :, :, :, :]


def samples(device):
    dtype = torch.float64 if device.type == "cpu" else torch.float32
    q, k, v, bias, mask = evo_sample(device, dtype)
    x = torch.randn(6, 16, dtype=dtype, device=device, requires_grad=True)
    gamma, beta = (torch.randn(16, dtype=dtype, device=device, requires_grad=True) for _ in range(2))
    w = torch.randn(8, 16, dtype=dtype, device=device, requires_grad=True)
    c = torch.randn(8, dtype=dtype, device=device, requires_grad=True)
    w1 = torch.randn(32, 16, dtype=dtype, device=device, requires_grad=True)
    w2 = torch.randn(16, 16, dtype=dtype, device=device, requires_grad=True)
    return [
        (ops.evo_attention_forward, (q, k, v, bias, mask, 0.0, "deterministic")),
        (ops.evo_attention_forward, (q, k, v, None, None, 0.5, "fast")),
        (ops.layer_norm_linear_forward, (x, gamma, beta, w.t(), c, 1e-5)),
        (ops.layer_norm_linear_forward, (x, gamma, None, w.t(), None, 1e-5)),
        (ops.transition_forward, (x, gamma, beta, w1.t(), w2.t(), 1e-5)),
        (ops.transition_forward, (x, None, None, w1.t(), w2.t(), 1e-5)),
    ]


def test_opcheck_every_op(device):
    for op, args in samples(device):
        torch.library.opcheck(op, args)  # raises on the first failing check


def test_torch_compile_traces_through_without_graph_breaks(device):
    q, k, v, bias, mask = evo_sample(device, torch.float64 if device.type == "cpu" else torch.float32)
    transition = mfjit.Transition(16, expansion=2).to(device, q.dtype)
    projection = mfjit.LayerNormLinear(32, 16).to(device, q.dtype)

    def block(q, k, v, bias, mask):
        o = mfjit.evo_attention(q, k, v, bias, mask)
        return transition(projection(o.flatten(-2))).sum()

    compiled = torch.compile(block, backend="aot_eager", fullgraph=True)
    expected = block(q, k, v, bias, mask)
    got = compiled(q, k, v, bias, mask)
    assert relative_error(got, expected) < 1e-6
    grads = torch.autograd.grad(got, (q, k, v, bias))
    expected_grads = torch.autograd.grad(expected, (q, k, v, bias))
    for g, e in zip(grads, expected_grads):
        assert relative_error(g, e) < 1e-6


def test_plans_are_cached_per_problem_and_described():
    mfjit.forget_plans()
    q, k, v, bias, mask = evo_sample(torch.device("cpu"))
    for _ in range(3):
        mfjit.evo_attention(q, k, v, bias, mask).sum().backward()
    described = mfjit.describe("evo_attention")
    assert sorted(d["direction"]["pass"] for d in described) == ["backward", "forward"]
    assert all(d["backend"] == "cpu" and d["config_source"] in ("default", "tuned:exact", "tuned:nearest") for d in described)
    mfjit.evo_attention(q[:, :, :4], k[:, :, :4], v[:, :, :4])  # another problem: another plan
    assert len(mfjit.describe("evo_attention")) == 3
    assert mfjit.describe("transition") == []
    mfjit.forget_plans()
    assert mfjit.describe() == []


def test_tune_measures_what_the_process_ran_and_later_calls_use_the_winner(tmp_path):
    mfjit.forget_plans()
    x = torch.randn(33, 64, dtype=torch.float32)
    w1, w2 = torch.randn(128, 64) / 8, torch.randn(64, 64) / 8
    before = mfjit.transition(x, w1, w2)
    (untuned,) = mfjit.describe("transition")
    if untuned["config_source"].startswith("tuned"):
        pytest.skip("this problem is already tuned in the test run's database")
    tuned = mfjit.tune(strategy="exhaustive", trials=4)
    assert tuned == [{"backend": "cpu", "device": 0, "database": untuned["tuning_db"]}]
    assert mfjit.describe() == []  # the cached plans were dropped
    after = mfjit.transition(x, w1, w2)
    (plan,) = mfjit.describe("transition")
    assert plan["config_source"] == "tuned:exact"
    assert relative_error(after, before) < 1e-5


def test_tune_reports_mf_tune_failures():
    mfjit.forget_plans()
    mfjit.transition(torch.randn(3, 16), torch.randn(32, 16), torch.randn(16, 16))
    with pytest.raises(RuntimeError, match=r"mf-tune .* exited with"):
        mfjit.tune(strategy="no-such-strategy")


def test_cuda_graph_capture_and_replay():
    """Forward and backward captured once and replayed on new inputs: plans are built in the
    warm-up, workspaces come from torch's allocator (the graph's pool), launches go on the
    capturing stream."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    device = torch.device("cuda")
    q, k, v, bias, mask = (t.detach() if t is not None else None for t in evo_sample(device, torch.bfloat16))
    static = [t.clone().requires_grad_() for t in (q, k, v, bias)]
    d_o = torch.randn_like(q)

    def step():
        for t in static:
            t.grad = None
        out = mfjit.evo_attention(*static, mask)
        out.backward(d_o)
        return out

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            step()  # warm-up: plans built and kernels compiled outside the capture
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = step()

    for _ in range(2):
        fresh = [torch.randn_like(t) for t in static]
        with torch.no_grad():
            for t, f in zip(static, fresh):
                t.copy_(f)
        graph.replay()
        torch.cuda.synchronize()
        leaves = [f.clone().requires_grad_() for f in fresh]
        eager = mfjit.evo_attention(*leaves, mask)
        eager.backward(d_o)
        assert torch.equal(static_out, eager)
        for captured, fresh_leaf in zip(static, leaves):
            assert torch.equal(captured.grad, fresh_leaf.grad)
