#!/usr/bin/env python3
"""LayerNormLinear on a GPU: mfjit beside PyTorch eager and torch.compile, in one process
(DESIGN.md §1.2, §4, §5). y = LN(x; γ, β) · Wᵀ + b with an nn.Linear weight W [N, K] (mfjit
reads it through the transposed view, no copy), bf16, K = 128, the AF3 N ∈ {640, 128, 1024,
16, 8} and M ∈ {147456, 589824}.

For each implementation: forward and forward+backward time (median of device-event timings
after warm-up, triton.testing.do_bench), peak memory of one forward+backward above what
was allocated before it, and the relative L2 error of y and of every gradient against an
fp32 computation.

    python3 bench/layer_norm_linear.py --json $OUT/lnl.json

--breakdown adds each mfjit kernel's GPU time per forward+backward (torch.profiler / CUPTI) to
mfjit's rows ("kernels" in the JSON): where the time goes.

--forward-configs times mfjit's forward alone under each $MFJIT_TILE_CONFIG given (e.g.
version=2,warps=8,block_n=128), for choosing the generator's defaults; those rows go to the
JSON's "forward_configs", beside the peers' rows.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import evo_attention as evo  # noqa: E402  (bench_ms, first_line, environment)
import kernel_breakdown  # noqa: E402  (kernel_times)
import mfjit_ctypes as mf  # noqa: E402
import plot  # noqa: E402

DEFAULT_N = (640, 128, 1024, 16, 8)
DEFAULT_M = (147456, 589824)


def eager(x, gamma, beta, weight, bias):
    return F.linear(F.layer_norm(x, (x.shape[1],), gamma, beta, 1e-5), weight, bias)


def rel_err(actual, expected) -> float:
    return float((actual.float() - expected).norm() / expected.norm())


def peak_mib(fn) -> float:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def run(m: int, k: int, n: int, impl: str, lib, compiled, args) -> dict:
    g = torch.Generator(device="cuda").manual_seed(m + n)
    dt = torch.bfloat16
    x = torch.randn(m, k, device="cuda", dtype=dt, generator=g).requires_grad_()
    gamma = (1 + 0.1 * torch.randn(k, device="cuda", generator=g)).to(dt).requires_grad_()
    beta = (0.1 * torch.randn(k, device="cuda", generator=g)).to(dt).requires_grad_()
    weight = (torch.randn(n, k, device="cuda", generator=g) / k**0.5).to(dt).requires_grad_()
    bias = (0.1 * torch.randn(n, device="cuda", generator=g)).to(dt).requires_grad_()
    d_y = torch.randn(m, n, device="cuda", dtype=dt, generator=g)
    leaves = [x, gamma, beta, weight, bias]
    row = dict(m=m, k=k, n=n, impl=impl)
    try:
        if impl == "mfjit":
            op = mf.LayerNormLinear(library=lib)
            w_kn = weight.detach().t()
            args_d = [t.detach() for t in (x, gamma)]

            def fwd():
                return op.forward(args_d[0], args_d[1], w_kn, beta.detach(), bias.detach())

            def fwd_bwd():
                y, mean, rstd = fwd()
                return op.backward(args_d[0], args_d[1], w_kn, mean, rstd, d_y, beta.detach(), bias.detach())

            y = fwd()[0]
            grads = fwd_bwd()
            grads = dict(x=grads[0], gamma=grads[1], beta=grads[2], weight=grads[3].t(), bias=grads[4])
        else:
            f = compiled if impl == "compile" else eager
            fwd = lambda: f(x, gamma, beta, weight, bias)
            fwd_bwd = lambda: f(x, gamma, beta, weight, bias).backward(d_y)
            y = fwd()
            for t in leaves:
                t.grad = None
            fwd_bwd()
            grads = dict(x=x.grad, gamma=gamma.grad, beta=beta.grad, weight=weight.grad, bias=bias.grad)
        ref_leaves = [t.detach().float().requires_grad_() for t in leaves]
        ref = eager(*[ref_leaves[i] for i in (0, 1, 2, 3, 4)])
        ref.backward(d_y.float())
        row["rel_err"] = dict(y=rel_err(y, ref.detach()))
        for name, t in zip(("x", "gamma", "beta", "weight", "bias"), ref_leaves):
            row["rel_err"]["d_" + name] = rel_err(grads[name], t.grad)
        del y, grads, ref, ref_leaves
        with torch.no_grad():
            row["fwd_ms"] = evo.bench_ms(fwd, args.warmup_ms, args.rep_ms)
        row["fwd_bwd_ms"] = evo.bench_ms(fwd_bwd, args.warmup_ms, args.rep_ms, grad_to_none=leaves)
        row["peak_mib"] = peak_mib(fwd_bwd)
        if impl == "mfjit":
            row["config"] = {k: p.describe().get("config") for k, p in op.last_plans.items()}
            if args.breakdown:
                row["kernels"] = {name: dict(calls=calls, us=us)
                                  for name, (calls, us) in kernel_breakdown.kernel_times(fwd_bwd, 10).items()}
            op.close()
        row["status"] = "ok"
    except Exception as e:  # a failing implementation is a result too
        row.update(status="fails", error=evo.first_line(e))
    return row


def run_forward_config(m: int, k: int, n: int, config: str, lib, args) -> dict:
    """mfjit's forward alone under $MFJIT_TILE_CONFIG=config: time and y's error."""
    g = torch.Generator(device="cuda").manual_seed(m + n)
    dt = torch.bfloat16
    x = torch.randn(m, k, device="cuda", dtype=dt, generator=g)
    gamma = (1 + 0.1 * torch.randn(k, device="cuda", generator=g)).to(dt)
    beta = (0.1 * torch.randn(k, device="cuda", generator=g)).to(dt)
    weight = (torch.randn(n, k, device="cuda", generator=g) / k**0.5).to(dt)
    bias = (0.1 * torch.randn(n, device="cuda", generator=g)).to(dt)
    row = dict(m=m, k=k, n=n, impl="mfjit", config=config)
    os.environ["MFJIT_TILE_CONFIG"] = config
    try:
        op = mf.LayerNormLinear(library=lib)
        fwd = lambda: op.forward(x, gamma, weight.t(), beta, bias)
        row["rel_err"] = dict(y=rel_err(fwd()[0], eager(x.float(), gamma.float(), beta.float(), weight.float(),
                                                        bias.float())))
        row["fwd_ms"] = evo.bench_ms(fwd, args.warmup_ms, args.rep_ms)
        row["plan"] = {k: p.describe().get("config") for k, p in op.last_plans.items()}
        op.close()
        row["status"] = "ok"
    except Exception as e:
        row.update(status="fails", error=evo.first_line(e))
    finally:
        del os.environ["MFJIT_TILE_CONFIG"]
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, nargs="+", default=list(DEFAULT_M))
    ap.add_argument("--n", type=int, nargs="+", default=list(DEFAULT_N))
    ap.add_argument("--k", type=int, default=128)
    ap.add_argument("--impls", nargs="+", default=["eager", "compile", "mfjit"])
    ap.add_argument("--warmup-ms", type=float, default=25)
    ap.add_argument("--rep-ms", type=float, default=100)
    ap.add_argument("--library", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--forward-configs", nargs="*", default=[], metavar="CONFIG")
    ap.add_argument("--breakdown", action="store_true", help="mfjit's per-kernel times (CUPTI)")
    args = ap.parse_args(argv)
    lib = mf.load_library(args.library)
    compiled = torch.compile(eager, dynamic=False)
    rows, forward_rows = [], []
    print(f"{'M':>7} {'K':>4} {'N':>5} {'impl':8} {'fwd ms':>8} {'fwd+bwd ms':>10} {'peak MiB':>9} {'rel err':>8}")
    for m in args.m:
        for n in args.n:
            for impl in args.impls:
                r = run(m, args.k, n, impl, lib, compiled, args)
                rows.append(r)
                if r["status"] != "ok":
                    print(f"{m:7d} {args.k:4d} {n:5d} {impl:8} fails: {r['error']}", flush=True)
                    continue
                worst = max(r["rel_err"].values())
                print(f"{m:7d} {args.k:4d} {n:5d} {impl:8} {r['fwd_ms']:8.3f} {r['fwd_bwd_ms']:10.3f} "
                      f"{r['peak_mib']:9.1f} {worst:8.1e}", flush=True)
                for name, kernel in sorted(r.get("kernels", {}).items(), key=lambda item: -item[1]["us"]):
                    print(f"{'':22} {kernel['us']:8.1f} us  {kernel['calls']} x {name[:90]}", flush=True)
                torch.cuda.empty_cache()
            for config in args.forward_configs:
                r = run_forward_config(m, args.k, n, config, lib, args)
                forward_rows.append(r)
                result = (f"{r['fwd_ms']:8.3f} err {r['rel_err']['y']:.1e}" if r["status"] == "ok"
                          else f"fails: {r['error']}")
                print(f"{m:7d} {args.k:4d} {n:5d} mfjit forward [{config}] {result}", flush=True)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(dict(rows=rows, forward_configs=forward_rows,
                                                           gpu=torch.cuda.get_device_name()), indent=2))
        print(f"wrote {args.json} and {plot.write_svg(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
