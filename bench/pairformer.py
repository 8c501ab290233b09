"""A Pairformer block's training step (python/tests/pairformer_block.py) at AF3 sizes, mfjit
beside plain torch (eager and torch.compile), bf16: step time and peak memory.

    python3 bench/pairformer.py --json $OUT/pairformer.json [--tokens 256 384]

Each engine gets fresh blocks with equal parameters, warms up, then times `--steps` Adam
steps (forward, backward, update) with CUDA events; peak memory is torch's
max_memory_allocated over the timed steps. The losses of the engines' first steps are
printed, so the table also shows that they trained the same model.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "python" / "tests"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "python"))
import pairformer_block as pf  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import plot  # noqa: E402

AF3_SIZES = dict(single_dim=384, pair_dim=128, pair_heads=4, pair_head_dim=32, single_heads=16, single_head_dim=24)


def measure(block, batch, steps: int, warmup: int) -> dict:
    s, z, mask, s_target, z_target = batch
    optimizer = torch.optim.Adam(block.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        s_out, z_out = block(s, z, mask)
        loss = (s_out.float() - s_target.float()).square().mean() + (z_out.float() - z_target.float()).square().mean()
        loss.backward()
        optimizer.step()
        return loss

    first_loss = step().item()
    for _ in range(warmup - 1):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        step()
    end.record()
    torch.cuda.synchronize()
    return {"step_ms": start.elapsed_time(end) / steps, "peak_mib": torch.cuda.max_memory_allocated() / 2**20,
            "first_loss": first_loss}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, nargs="+", default=[128, 256, 384])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--engines", nargs="+", default=["mfjit", "torch", "torch.compile"])
    ap.add_argument("--json", type=pathlib.Path)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("bench/pairformer.py needs a CUDA device", file=sys.stderr)
        return 2
    rows = []
    print(f"{'tokens':>6} {'engine':>14} {'step ms':>9} {'peak MiB':>9} {'first loss':>11}")
    for tokens in args.tokens:
        for engine in args.engines:
            mf_block, torch_block, *batch = pf.make_pair(tokens=tokens, dtype=torch.bfloat16, device="cuda",
                                                          **AF3_SIZES)
            block = mf_block if engine == "mfjit" else torch_block
            if engine == "torch.compile":
                block = torch.compile(block)
            del mf_block, torch_block
            torch.cuda.empty_cache()
            try:
                row = measure(block, batch, args.steps, args.warmup)
            except torch.cuda.OutOfMemoryError:
                row = {"step_ms": None, "peak_mib": None, "first_loss": None, "error": "out of memory"}
            row.update(tokens=tokens, engine=engine)
            rows.append(row)
            shown = [f"{row[k]:.3f}" if row[k] is not None else "-" for k in ("step_ms", "peak_mib", "first_loss")]
            print(f"{tokens:>6} {engine:>14} {shown[0]:>9} {shown[1]:>9} {shown[2]:>11}", flush=True)
            del block, batch
            torch.cuda.empty_cache()
    if args.json:
        args.json.write_text(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                                         "sizes": AF3_SIZES, "rows": rows}, indent=1))
        print(f"wrote {args.json} and {plot.write_svg(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
