#!/usr/bin/env python3
"""Times mfjit EvoAttention under hand-picked tile configurations ($MFJIT_TILE_CONFIG), one
process, to choose generator defaults until the tuner exists. Forward configurations are
timed by the forward alone, backward ones by forward+backward minus the default forward.

    python3 bench/sweep_configs.py --problems triangle --n 384 1024 \\
        --forward warps=4,block_k=64 warps=8,block_k=64 --backward key_groups=1 key_groups=2
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import evo_attention as bench  # noqa: E402
import mfjit_ctypes as mf  # noqa: E402


def time_config(lib, p: bench.Problem, config: str, args) -> tuple[float, float, dict]:
    os.environ["MFJIT_TILE_CONFIG"] = config
    op = mf.EvoAttention(scale=p.scale, dbias_mode=args.dbias_mode, library=lib)
    try:
        impl = bench.make_impl("mfjit", p, op)
        q, k, v, bias, mask = p.inputs()
        impl(q, k, v, bias, mask).backward(p.d_o)  # compile and load
        torch.cuda.synchronize()
        fwd = bench.bench_ms(lambda: impl(q, k, v, bias, mask), args.warmup_ms, args.rep_ms)
        fwd_bwd = bench.bench_ms(lambda: impl(q, k, v, bias, mask).backward(p.d_o), args.warmup_ms, args.rep_ms,
                                 grad_to_none=p.leaves())
        plans = {plan_name: plan.describe().get("config") for plan_name, plan in op.last_plans.items()}
        return fwd, fwd_bwd, plans
    finally:
        op.close()
        os.environ.pop("MFJIT_TILE_CONFIG", None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", nargs="+", choices=list(bench.PROBLEMS), default=["triangle"])
    ap.add_argument("--n", type=int, nargs="+", default=[384])
    ap.add_argument("--forward", nargs="*", default=[], help="forward configurations, name=value,...")
    ap.add_argument("--backward", nargs="*", default=[], help="backward configurations, name=value,...")
    ap.add_argument("--dtype", choices=list(bench.DTYPES), default="bf16")
    ap.add_argument("--dbias-mode", choices=list(mf.DBIAS_MODES), default="deterministic")
    ap.add_argument("--warmup-ms", type=float, default=25)
    ap.add_argument("--rep-ms", type=float, default=100)
    ap.add_argument("--library", default=None)
    ap.add_argument("--json", default=None, metavar="PATH")
    args = ap.parse_args(argv)
    lib = mf.load_library(args.library)
    rows = []
    for name in args.problems:
        for n in args.n:
            p = bench.Problem(name, n, 1, bench.DTYPES[args.dtype], "boolean", 0.0, 0.1, 0, torch.device("cuda"))
            for kind, configs in (("default", [""]), ("forward", args.forward), ("backward", args.backward)):
                for config in configs:
                    try:
                        fwd, fwd_bwd, plans = time_config(lib, p, config, args)
                        row = dict(problem=name, n=n, kind=kind, config=config, fwd_ms=fwd, fwd_bwd_ms=fwd_bwd,
                                   bwd_ms=fwd_bwd - fwd, plans=plans)
                        print(f"{name:9s} N={n:<5d} {kind:8s} {config or '(default)':60s} fwd {fwd:8.3f}  "
                              f"fwd+bwd {fwd_bwd:8.3f}  bwd {fwd_bwd - fwd:8.3f} ms", flush=True)
                    except Exception as e:  # a configuration that fails is a result too
                        row = dict(problem=name, n=n, kind=kind, config=config, error=bench.first_line(e))
                        print(f"{name:9s} N={n:<5d} {kind:8s} {config:60s} FAILS {row['error']}", flush=True)
                    rows.append(row)
            del p
            torch.cuda.empty_cache()
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
