#!/usr/bin/env python3
"""The SwiGLU Transition on a GPU: mfjit beside PyTorch eager and torch.compile, in one
process (DESIGN.md §1.3, §4, §5). y = (a * silu(g)) @ W2ᵀ with [a | g] = LN(x; γ, β) @ W1ᵀ,
nn.Linear weights W1 [2F, D] and W2 [D, F] (mfjit reads them through transposed views, no
copy), bf16, the AF3 shapes: D = 128, E = 4 at M ∈ {147456, 589824} (the pair transition)
and D = 384, E = 4 at M = 384 (the single transition).

For each implementation: forward and forward+backward time (median of device-event timings
after warm-up, triton.testing.do_bench), peak memory of one forward+backward above what
was allocated before it, and the relative L2 error of y and of every gradient against an
fp32 computation.

    python3 bench/transition.py --json $OUT/transition.json
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import evo_attention as evo  # noqa: E402  (bench_ms, first_line)
import mfjit_ctypes as mf  # noqa: E402
import plot  # noqa: E402
from layer_norm_linear import peak_mib, rel_err  # noqa: E402

DEFAULT_SHAPES = ("147456,128,4", "589824,128,4", "384,384,4")


def eager(x, gamma, beta, w1, w2):
    a, g = F.linear(F.layer_norm(x, (x.shape[1],), gamma, beta, 1e-5), w1).chunk(2, dim=-1)
    return F.linear(a * F.silu(g), w2)


def run(m: int, d: int, e: int, impl: str, lib, compiled, args) -> dict:
    g = torch.Generator(device="cuda").manual_seed(m + d + e)
    dt, f = torch.bfloat16, e * d
    x = torch.randn(m, d, device="cuda", dtype=dt, generator=g).requires_grad_()
    gamma = (1 + 0.1 * torch.randn(d, device="cuda", generator=g)).to(dt).requires_grad_()
    beta = (0.1 * torch.randn(d, device="cuda", generator=g)).to(dt).requires_grad_()
    w1 = (torch.randn(2 * f, d, device="cuda", generator=g) / d**0.5).to(dt).requires_grad_()
    w2 = (torch.randn(d, f, device="cuda", generator=g) / f**0.5).to(dt).requires_grad_()
    d_y = torch.randn(m, d, device="cuda", dtype=dt, generator=g)
    leaves = [x, gamma, beta, w1, w2]
    row = dict(m=m, d=d, e=e, impl=impl)
    try:
        if impl == "mfjit":
            op = mf.Transition(library=lib)
            xd, gd, bd, w1t, w2t = x.detach(), gamma.detach(), beta.detach(), w1.detach().t(), w2.detach().t()

            def fwd():
                return op.forward(xd, w1t, w2t, gd, bd)

            def fwd_bwd():
                _, mean, rstd = fwd()
                return op.backward(xd, w1t, w2t, d_y, gd, bd, mean, rstd)

            y = fwd()[0]
            grads = fwd_bwd()
            grads = dict(x=grads[0], gamma=grads[1], beta=grads[2], w1=grads[3].t(), w2=grads[4].t())
        else:
            fn = compiled if impl == "compile" else eager
            fwd = lambda: fn(x, gamma, beta, w1, w2)
            fwd_bwd = lambda: fn(x, gamma, beta, w1, w2).backward(d_y)
            y = fwd()
            for t in leaves:
                t.grad = None
            fwd_bwd()
            grads = dict(x=x.grad, gamma=gamma.grad, beta=beta.grad, w1=w1.grad, w2=w2.grad)
        ref_leaves = [t.detach().float().requires_grad_() for t in leaves]
        ref = eager(*ref_leaves)
        ref.backward(d_y.float())
        row["rel_err"] = dict(y=rel_err(y, ref.detach()))
        for name, t in zip(("x", "gamma", "beta", "w1", "w2"), ref_leaves):
            row["rel_err"]["d_" + name] = rel_err(grads[name], t.grad)
        del y, grads, ref, ref_leaves
        with torch.no_grad():
            row["fwd_ms"] = evo.bench_ms(fwd, args.warmup_ms, args.rep_ms)
        row["fwd_bwd_ms"] = evo.bench_ms(fwd_bwd, args.warmup_ms, args.rep_ms, grad_to_none=leaves)
        row["peak_mib"] = peak_mib(fwd_bwd)
        if impl == "mfjit":
            row["config"] = {k: p.describe().get("config") for k, p in op.last_plans.items()}
            op.close()
        row["status"] = "ok"
    except Exception as ex:  # a failing implementation is a result too
        row.update(status="fails", error=evo.first_line(ex))
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", default=list(DEFAULT_SHAPES), help="M,D,E triples")
    ap.add_argument("--impls", nargs="+", default=["eager", "compile", "mfjit"])
    ap.add_argument("--warmup-ms", type=float, default=25)
    ap.add_argument("--rep-ms", type=float, default=100)
    ap.add_argument("--library", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    lib = mf.load_library(args.library)
    compiled = torch.compile(eager, dynamic=False)
    rows = []
    print(f"{'M':>7} {'D':>4} {'E':>2} {'impl':8} {'fwd ms':>8} {'fwd+bwd ms':>10} {'peak MiB':>9} {'rel err':>8}")
    for shape in args.shapes:
        m, d, e = (int(v) for v in shape.split(","))
        for impl in args.impls:
            r = run(m, d, e, impl, lib, compiled, args)
            rows.append(r)
            if r["status"] != "ok":
                print(f"{m:7d} {d:4d} {e:2d} {impl:8} fails: {r['error']}", flush=True)
                continue
            worst = max(r["rel_err"].values())
            print(f"{m:7d} {d:4d} {e:2d} {impl:8} {r['fwd_ms']:8.3f} {r['fwd_bwd_ms']:10.3f} "
                  f"{r['peak_mib']:9.1f} {worst:8.1e}", flush=True)
            torch.cuda.empty_cache()
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(dict(rows=rows, gpu=torch.cuda.get_device_name()), indent=2))
        print(f"wrote {args.json} and {plot.write_svg(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
