#!/usr/bin/env python3
"""Per-kernel GPU time of one mfjit EvoAttention forward+backward (torch.profiler / CUPTI).

The end-to-end benchmark (evo_attention.py) says how fast; this says where the time goes:
which of the forward, row_delta, backward_keys, backward_queries, dbias_finalize and
dq_convert kernels dominate for a problem. Prints one line per kernel: calls, total and
mean microseconds per forward+backward, and the plans' configurations.

    python3 bench/kernel_breakdown.py --problems triangle --n 384 1024
"""
from __future__ import annotations

import argparse
import collections
import json
import pathlib
import sys

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import evo_attention as bench  # noqa: E402
import mfjit_ctypes as mf  # noqa: E402


def kernel_times(fn, reps: int) -> dict[str, tuple[int, float]]:
    """name -> (calls per rep, microseconds per rep), from CUPTI kernel records."""
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    calls, micros = collections.Counter(), collections.Counter()
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            calls[event.name] += 1
            micros[event.name] += event.device_time
    return {name: (calls[name] // reps, micros[name] / reps) for name in calls}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", nargs="+", choices=list(bench.PROBLEMS), default=["triangle"])
    ap.add_argument("--n", type=int, nargs="+", default=[384])
    ap.add_argument("--dtype", choices=list(bench.DTYPES), default="bf16")
    ap.add_argument("--dbias-mode", choices=list(mf.DBIAS_MODES), default="deterministic")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--library", default=None)
    ap.add_argument("--json", default=None, metavar="PATH")
    args = ap.parse_args(argv)

    lib = mf.load_library(args.library)
    device = torch.device("cuda")
    results = []
    for name in args.problems:
        for n in args.n:
            p = bench.Problem(name, n, 1, bench.DTYPES[args.dtype], "boolean", 0.0, 0.1, 0, device)
            op = mf.EvoAttention(scale=p.scale, dbias_mode=args.dbias_mode, library=lib)
            impl = bench.make_impl("mfjit", p, op)

            def fwd_bwd():
                for leaf in p.leaves():
                    leaf.grad = None
                impl(*p.inputs()).backward(p.d_o)

            for _ in range(3):  # compile, load, warm up
                fwd_bwd()
            torch.cuda.synchronize()
            times = kernel_times(fwd_bwd, args.reps)
            total = sum(us for _, us in times.values())
            print(f"\n{name} N={n} {args.dtype} dbias={args.dbias_mode}: {total:.1f} us of kernels per fwd+bwd")
            for kernel, (calls, us) in sorted(times.items(), key=lambda kv: -kv[1][1]):
                print(f"  {us:9.1f} us  {100 * us / total:5.1f}%  x{calls}  {kernel[:90]}")
            plans = [{"op": plan.op, **plan.describe()} for plan in op.plans()]
            for plan in plans:
                print("  plan:", json.dumps(plan.get("config", plan))[:200])
            results.append({"problem": name, "n": n, "kernels_us": {k: v[1] for k, v in times.items()},
                            "plans": plans})
            op.close()
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
