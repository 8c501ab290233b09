#!/usr/bin/env python3
"""EvoAttention on a GPU: mfjit side by side with its peers, in one process (DESIGN.md §4, §5).

Problems (B = 1, bias [1, 1, H, N, N], boolean key mask [1, S, 1, 1, N] with ~10% dropped keys):
  triangle   triangle attention, starting node   Q/K/V [1, N, N, 4, 32]
  single     single attention with pair bias      Q/K/V [1, 1, N, 16, 64]
  diffusion  diffusion token transformer          Q/K/V [1, 4, N, 16, 64]
for N in {128, 256, 384, 512, 768, 1024}.

Implementations, each a differentiable function (q, k, v, bias, mask) -> o in [B, S, N, H, D]:
  mfjit   the library through bench/mfjit_ctypes.py, in a torch.autograd.Function
  eager   PyTorch eager: matmul + bias + mask + softmax + matmul in the input dtype
  sdpa    F.scaled_dot_product_attention, attn_mask = bias + mask term materialised to
          [B*S, H, N, N] in the input dtype, q/k/v viewed as [B*S, H, N, D]
  flex    FlexAttention under torch.compile, S folded into the batch, score_mod adding
          bias[..., h, q, k] and the mask
  cueq    NVIDIA cuEquivariance's triangle_attention (cuequivariance-torch and
          cuequivariance-ops-torch-cu13; bench/gpu_deps.sh --peers packs the wheels for the
          GPU machine), q/k/v as [B, S, H, N, D] views; boolean masks only

For each: forward and forward+backward time (median of device-event timings after warm-up,
triton.testing.do_bench when available), peak memory of one forward+backward above what was
allocated before it (mfjit: plus its workspace), the wall time of the first call (JIT and
torch.compile included), and the relative L2 error of o, dq, dk, dv, dbias against an fp32
implementation of the same math. A failing implementation (compile error, OOM, unsupported)
is recorded as "fails" with its exception's first line; the run goes on.

    python3 bench/evo_attention.py --json $OUT/evo.json [--library build/lead/runtime/libmfjit.so]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import pathlib
import platform
import statistics
import subprocess
import sys
import time
import traceback
from typing import Callable, Optional

import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import mfjit_ctypes as mf  # noqa: E402
import plot  # noqa: E402

# ---- problems -----------------------------------------------------------------------------

PROBLEMS = {
    # name: (description, S as a function of N, H, D)
    "triangle": ("triangle attention, starting node [1, N, N, 4, 32]", lambda n: n, 4, 32),
    "single": ("single attention with pair bias [1, 1, N, 16, 64]", lambda n: 1, 16, 64),
    "diffusion": ("diffusion token transformer [1, 4, N, 16, 64]", lambda n: 4, 16, 64),
}
DEFAULT_N = (128, 256, 384, 512, 768, 1024)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
IMPLS = ("eager", "sdpa", "flex", "cueq", "mfjit")  # peers first: a broken CUDA context then spoils only mfjit
PEERS = ("eager", "sdpa", "flex", "cueq")


class Problem:
    def __init__(self, name: str, n: int, batch: int, dtype: torch.dtype, mask_kind: str, masked_rows: float,
                 key_drop: float, seed: int, device: torch.device):
        desc, rows, heads, head_dim = PROBLEMS[name]
        self.name, self.description = name, desc
        self.B, self.S, self.N, self.H, self.D = batch, rows(n), n, heads, head_dim
        self.dtype, self.mask_kind = dtype, mask_kind
        self.scale = head_dim ** -0.5
        g = torch.Generator(device=device).manual_seed(seed * 1000003 + n * 7 + len(name))
        shape = (self.B, self.S, self.N, self.H, self.D)

        def randn(*s):
            return torch.randn(s, generator=g, device=device, dtype=torch.float32).to(dtype)

        self.q, self.k, self.v = (randn(*shape).requires_grad_() for _ in range(3))
        self.bias = randn(self.B, 1, self.H, self.N, self.N).requires_grad_()
        self.d_o = randn(*shape)
        self.mask = None
        if mask_kind != "none":
            keep = torch.rand((self.B, self.S, 1, 1, self.N), generator=g, device=device) >= key_drop
            # never a fully masked row unless asked: keep one random key per row
            anchor = torch.randint(0, self.N, (self.B, self.S, 1, 1, 1), generator=g, device=device)
            keep.scatter_(-1, anchor, True)
            if masked_rows > 0:
                dead = torch.rand((self.B, self.S, 1, 1, 1), generator=g, device=device) < masked_rows
                keep &= ~dead
            self.mask = keep if mask_kind == "boolean" else torch.where(keep, 0.0, -1e4).to(dtype)

    @property
    def shape(self):
        return [self.B, self.S, self.N, self.H, self.D]

    def inputs(self):
        return self.q, self.k, self.v, self.bias, self.mask

    def leaves(self):
        return [self.q, self.k, self.v, self.bias]


def mask_term(mask: Optional[torch.Tensor], dtype: torch.dtype) -> Optional[torch.Tensor]:
    """[B, S, 1, 1, N] additive term: 0 / -inf for a boolean mask, the values for an additive one."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))
    return mask.to(dtype)


# ---- implementations ------------------------------------------------------------------------


def eager_attention(q, k, v, bias, mask, scale):
    qt = q.permute(0, 1, 3, 2, 4)  # [B, S, H, N, D]
    kt = k.permute(0, 1, 3, 4, 2)  # [B, S, H, D, N]
    vt = v.permute(0, 1, 3, 2, 4)
    logits = torch.matmul(qt * scale, kt)  # [B, S, H, N, N]
    if bias is not None:
        logits = logits + bias
    if mask is not None:
        logits = logits + mask_term(mask, logits.dtype)
    p = torch.softmax(logits, dim=-1)
    return torch.matmul(p, vt).permute(0, 1, 3, 2, 4)  # [B, S, N, H, D]


def sdpa_attention(q, k, v, bias, mask, scale):
    B, S, N, H, D = q.shape
    attn_mask = bias
    term = mask_term(mask, q.dtype)
    if term is not None:
        attn_mask = term if attn_mask is None else attn_mask + term
    if attn_mask is not None:  # materialised [B*S, H, N, N] in the input dtype
        attn_mask = attn_mask.expand(B, S, H, N, N).reshape(B * S, H, N, N)
    qf, kf, vf = (x.flatten(0, 1).transpose(1, 2) for x in (q, k, v))  # views [B*S, H, N, D]
    o = F.scaled_dot_product_attention(qf, kf, vf, attn_mask=attn_mask, scale=scale)
    return o.transpose(1, 2).unflatten(0, (B, S))


def cueq_attention(q, k, v, bias, mask, scale):
    """NVIDIA cuEquivariance's triangle_attention (package cuequivariance-torch with
    cuequivariance-ops-torch-cu13): q, k, v as [B, S, H, N, D] views, a boolean key mask."""
    import cuequivariance_torch as cuet

    if mask is not None and mask.dtype != torch.bool:
        raise RuntimeError("cuEquivariance's triangle_attention takes boolean masks only")
    heads_first = (0, 1, 3, 2, 4)
    o = cuet.triangle_attention(q.permute(heads_first), k.permute(heads_first), v.permute(heads_first), bias, mask,
                                scale=scale)
    return o.permute(heads_first)


def _flex_evo(q, k, v, bias, mask, scale: float, kernel_options: Optional[dict] = None):
    """FlexAttention with S folded into the batch; compiled as a whole by make_flex()."""
    from torch.nn.attention.flex_attention import flex_attention

    B, S, N, H, D = q.shape
    qf, kf, vf = (x.flatten(0, 1).transpose(1, 2) for x in (q, k, v))  # [B*S, H, N, D]

    def row_index(b, shape):
        """Index of folded batch row b = b0*S + s into a [B or 1, S or 1, ...] prefix, None if both broadcast."""
        if shape[0] > 1 and shape[1] > 1:
            return b
        if shape[0] > 1:
            return b // S
        if shape[1] > 1:
            return b if B == 1 else b % S
        return None

    # Views of the captured tensors sliced outside score_mod, so that it only gathers.
    bias_v = mask_v = None
    if bias is not None:
        bias_v = bias.reshape(bias.shape[0] * bias.shape[1], bias.shape[2], N, N)
        if row_index(0, bias.shape) is None:
            bias_v = bias_v[0]
        if bias.shape[2] == 1:
            bias_v = bias_v.select(-3, 0)
    if mask is not None:
        mask_v = mask.reshape(mask.shape[0] * mask.shape[1], N)
        if row_index(0, mask.shape) is None:
            mask_v = mask_v[0]

    def score_mod(score, b, h, q_idx, kv_idx):
        if bias_v is not None:
            r = row_index(b, bias.shape)
            idx = ((r,) if r is not None else ()) + ((h,) if bias.shape[2] > 1 else ()) + (q_idx, kv_idx)
            score = score + bias_v[idx]
        if mask_v is not None:
            r = row_index(b, mask.shape)
            m = mask_v[r, kv_idx] if r is not None else mask_v[kv_idx]
            score = torch.where(m, score, -float("inf")) if mask.dtype == torch.bool else score + m
        return score

    o = flex_attention(qf, kf, vf, score_mod=score_mod, scale=scale, kernel_options=kernel_options)
    return o.transpose(1, 2).unflatten(0, (B, S))


_flex_compiled: dict[str, Callable] = {}

# Tried in order when FlexAttention's default configuration does not compile (on H100 its
# D = 64 kernels ask for more shared memory than the SM has): a tuned peer, not a failing one.
FLEX_FALLBACKS = ({"BLOCK_M": 64, "BLOCK_N": 64}, {"num_stages": 1})


def make_flex(kernel_options: Optional[dict] = None) -> Callable:
    key = json.dumps(kernel_options, sort_keys=True)
    if key not in _flex_compiled:
        import torch._dynamo
        # one compiled graph per problem shape (dynamic=False); never fall back to eager flex
        for knob in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit",
                     "accumulated_cache_size_limit"):
            if hasattr(torch._dynamo.config, knob):
                setattr(torch._dynamo.config, knob, 256)

        def flex_evo(q, k, v, bias, mask, scale):
            return _flex_evo(q, k, v, bias, mask, scale, kernel_options)

        _flex_compiled[key] = torch.compile(flex_evo, dynamic=False, fullgraph=True)
    return _flex_compiled[key]


class _MfjitEvoAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, bias, mask, op: mf.EvoAttention):
        o, lse = op.forward(q, k, v, bias, mask)
        ctx.op = op
        ctx.save_for_backward(q, k, v, bias, mask, o, lse)
        return o

    @staticmethod
    def backward(ctx, d_o):
        q, k, v, bias, mask, o, lse = ctx.saved_tensors
        wanted = [name for name, need in zip(("q", "k", "v", "bias"), ctx.needs_input_grad[:4]) if need]
        if bias is None and "bias" in wanted:
            wanted.remove("bias")
        if not wanted:
            return None, None, None, None, None, None
        dq, dk, dv, dbias = ctx.op.backward(q, k, v, o, lse, d_o, bias, mask, gradients=wanted)
        return dq, dk, dv, dbias, None, None


def make_impl(name: str, problem: Problem, mfjit_op: Optional[mf.EvoAttention],
              flex_options: Optional[dict] = None) -> Callable:
    scale = problem.scale
    if name == "eager":
        return lambda q, k, v, b, m: eager_attention(q, k, v, b, m, scale)
    if name == "sdpa":
        return lambda q, k, v, b, m: sdpa_attention(q, k, v, b, m, scale)
    if name == "flex":
        fn = make_flex(flex_options)
        return lambda q, k, v, b, m: fn(q, k, v, b, m, scale)
    if name == "cueq":
        return lambda q, k, v, b, m: cueq_attention(q, k, v, b, m, scale)
    if name == "mfjit":
        if mfjit_op is None:
            raise RuntimeError("mfjit library not loaded")
        return lambda q, k, v, b, m: _MfjitEvoAttention.apply(q, k, v, b, m, mfjit_op)
    raise ValueError(name)


# ---- the fp32 reference ---------------------------------------------------------------------


def reference_fp32(p: Problem, budget_bytes: int = 1 << 30):
    """o, dq, dk, dv, dbias of DESIGN.md §1.1 in fp32, chunked over S so that triangle at
    N = 1024 fits; rows whose keys are all dropped give 0 (never NaN)."""
    q, k, v, bias, mask = (x.detach() if x is not None else None for x in p.inputs())
    B, S, N, H, D = q.shape
    per_row = B * H * N * N * 4 * 8  # logits and their autograd companions, generously
    chunk = max(1, min(S, budget_bytes // per_row))
    bias32 = bias.float().requires_grad_() if bias is not None else None
    outs = {name: torch.empty(q.shape, dtype=torch.float32, device=q.device) for name in ("o", "dq", "dk", "dv")}
    for s0 in range(0, S, chunk):
        s1 = min(S, s0 + chunk)
        qs, ks, vs = (x[:, s0:s1].float().requires_grad_() for x in (q, k, v))
        bs = None
        if bias32 is not None:
            bs = bias32[:, s0:s1] if bias32.shape[1] > 1 else bias32
        logits = torch.matmul(qs.permute(0, 1, 3, 2, 4), ks.permute(0, 1, 3, 4, 2)) * p.scale
        if bs is not None:
            logits = logits + bs
        alive = None
        if mask is not None:
            ms = mask[:, s0:s1] if mask.shape[1] > 1 else mask
            if ms.dtype == torch.bool:
                logits = logits.masked_fill(~ms, -1e30)  # finite: no NaN in the backward
                alive = ms.any(dim=-1, keepdim=True)  # [B, s, 1, 1, 1]
            else:
                logits = logits + ms.float()
        probs = torch.softmax(logits, dim=-1)
        if alive is not None:
            probs = probs * alive
        o = torch.matmul(probs, vs.permute(0, 1, 3, 2, 4)).permute(0, 1, 3, 2, 4)
        o.backward(p.d_o[:, s0:s1].float())
        outs["o"][:, s0:s1] = o.detach()
        outs["dq"][:, s0:s1], outs["dk"][:, s0:s1], outs["dv"][:, s0:s1] = qs.grad, ks.grad, vs.grad
        del qs, ks, vs, bs, logits, probs, o
    outs["dbias"] = bias32.grad if bias32 is not None else None
    return outs


def rel_l2(x: Optional[torch.Tensor], ref: Optional[torch.Tensor]) -> Optional[float]:
    if x is None or ref is None:
        return None
    x = x.detach().float()
    if torch.isnan(x).any():
        return float("nan")
    den = ref.norm().item()
    return (x - ref).norm().item() / (den if den > 0 else 1.0)


# ---- timing ---------------------------------------------------------------------------------

try:
    from triton.testing import do_bench as _triton_do_bench
except Exception:  # triton missing or broken
    _triton_do_bench = None


def _event_bench(fn, warmup_ms: float, rep_ms: float, grad_to_none=None) -> float:
    """Median of CUDA-event timings, L2 flushed outside the timed region (as do_bench does)."""
    flush = torch.empty(256 << 20, dtype=torch.int8, device="cuda")
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(5):
        flush.zero_()
        fn()
    end.record()
    torch.cuda.synchronize()
    estimate = max(start.elapsed_time(end) / 5, 1e-3)
    for _ in range(max(1, int(warmup_ms / estimate))):
        fn()
    n = max(1, int(rep_ms / estimate))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    for i in range(n):
        for x in grad_to_none or ():
            x.grad = None
        flush.zero_()
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends))


def bench_ms(fn, warmup_ms: float, rep_ms: float, grad_to_none=None) -> float:
    if _triton_do_bench is not None:
        try:
            return float(_triton_do_bench(fn, warmup=warmup_ms, rep=rep_ms, grad_to_none=grad_to_none,
                                          return_mode="median"))
        except TypeError:  # an older signature
            pass
    return _event_bench(fn, warmup_ms, rep_ms, grad_to_none)


# ---- one implementation on one problem --------------------------------------------------------


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".strip()


def free_memory(p: Optional[Problem] = None):
    if p is not None:
        for x in p.leaves():
            x.grad = None
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()


def run_impl(name: str, p: Problem, mfjit_op, ref, args) -> dict:
    """run_once; FlexAttention retries FLEX_FALLBACKS when its default configuration does not compile."""
    row = run_once(name, p, mfjit_op, ref, args)
    if name != "flex" or row["status"] == "ok" or args.flex_no_fallback:
        return row
    if not any(s in row["error"] for s in ("out of resource", "No valid triton configs")):
        return row
    for options in FLEX_FALLBACKS:
        retry = run_once(name, p, mfjit_op, ref, args, flex_options=options)
        if retry["status"] == "ok":
            retry["flex_kernel_options"] = options
            retry["default_config_error"] = row["error"]
            return retry
    row["error"] += " (the fallback kernel_options fail too)"
    return row


def run_once(name: str, p: Problem, mfjit_op, ref, args, flex_options: Optional[dict] = None) -> dict:
    row = {"problem": p.name, "N": p.N, "shape": p.shape, "impl": name, "status": "ok"}
    try:
        impl = make_impl(name, p, mfjit_op, flex_options)
        q, k, v, bias, mask = p.inputs()

        def fwd():
            return impl(q, k, v, bias, mask)

        def fwd_bwd():
            impl(q, k, v, bias, mask).backward(p.d_o)

        # first call: JIT compile (mfjit) or torch.compile (flex) included
        free_memory(p)
        t0 = time.perf_counter()
        fwd_bwd()
        torch.cuda.synchronize()
        row["first_call_s"] = round(time.perf_counter() - t0, 3)
        free_memory(p)
        # one more untimed call: the cost of a single call sets the warm-up and repetitions
        t0 = time.perf_counter()
        fwd_bwd()
        torch.cuda.synchronize()
        once_ms = (time.perf_counter() - t0) * 1e3
        warmup = max(args.warmup_ms, 2 * once_ms)
        rep = max(args.rep_ms, args.min_reps * once_ms)
        free_memory(p)

        row["fwd_ms"] = bench_ms(fwd, warmup, rep)
        free_memory(p)
        row["fwd_bwd_ms"] = bench_ms(fwd_bwd, warmup, rep, grad_to_none=p.leaves())
        free_memory(p)

        # peak memory of one forward+backward above what is held before it (mfjit: + workspace)
        held_extra = mfjit_op.last_workspace_bytes() if name == "mfjit" else 0
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        o = impl(q, k, v, bias, mask)
        o.backward(p.d_o)
        torch.cuda.synchronize()
        row["peak_mib"] = round((torch.cuda.max_memory_allocated() - base + held_extra) / 2**20, 1)
        if name == "mfjit":
            row["workspace_mib"] = round(held_extra / 2**20, 3)

        if ref is not None:
            grads = {"o": o, "dq": q.grad, "dk": k.grad, "dv": v.grad, "dbias": bias.grad if bias is not None else None}
            row["rel_err"] = {key: rel_l2(grads[key], ref[key]) for key in grads if grads[key] is not None}
        del o
        if name == "mfjit" and mfjit_op is not None:
            row["plans"] = [_plan_summary(plan) for plan in mfjit_op.last_plans.values()]
    except Exception as e:  # a failing implementation never aborts the run
        row.update(status="fails", error=first_line(e))
        if args.verbose:
            traceback.print_exc()
    finally:
        free_memory(p)
        if name == "flex" and "torch._dynamo" in sys.modules:
            torch._dynamo.reset()
    return row


def _plan_summary(plan: mf.Plan) -> dict:
    try:
        d = plan.describe()
        return {k: d.get(k) for k in ("direction", "backend", "generator", "config", "config_source", "key",
                                      "workspace_bytes")}
    except Exception as e:
        return {"error": first_line(e)}


def cuda_context_ok() -> bool:
    try:
        torch.cuda.synchronize()
        torch.zeros(1, device="cuda").add_(1).item()
        return True
    except Exception:
        return False


# ---- reporting ------------------------------------------------------------------------------


def environment(args, mfjit_lib) -> dict:
    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(),
        "gpu_capability": "sm_%d%d" % torch.cuda.get_device_capability(),
        "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
        "timer": "triton.testing.do_bench(return_mode='median')" if _triton_do_bench else "cuda events (median)",
    }
    try:
        import triton
        env["triton"] = triton.__version__
    except Exception:
        env["triton"] = None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,name,clocks.max.sm", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        if out.returncode == 0:
            env["nvidia_smi"] = out.stdout.strip().splitlines()[0]
            env["driver_version"] = env["nvidia_smi"].split(",")[0].strip()
    except Exception:
        pass
    if mfjit_lib is not None:
        env["mfjit_library"] = str(mfjit_lib.path)
        env["mfjit_version"] = mfjit_lib.version()
        try:
            if mfjit_lib.device_count("cuda") > 0:
                info = mfjit_lib.device_info("cuda", torch.cuda.current_device())
                env["mfjit_device"] = info
                env.setdefault("driver_version", None)
                env["cuda_driver_api_version"] = info["driver_version"]
        except Exception as e:
            env["mfjit_device_error"] = first_line(e)
    return env


def add_speedups(rows: list[dict]) -> None:
    by_problem: dict[tuple, list[dict]] = {}
    for r in rows:
        by_problem.setdefault((r["problem"], r["N"]), []).append(r)
    for group in by_problem.values():
        mine = [r for r in group if r["impl"] == "mfjit" and r["status"] == "ok"]
        peers = [r for r in group if r["impl"] in PEERS and r["status"] == "ok"]
        if not mine:
            continue
        for metric in ("fwd_ms", "fwd_bwd_ms"):
            if peers:
                best = min(peers, key=lambda r: r[metric])
                mine[0][f"speedup_{metric[:-3]}"] = round(best[metric] / mine[0][metric], 3)
                mine[0][f"fastest_peer_{metric[:-3]}"] = best["impl"]


def _short(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def fmt(x, spec=".3f"):
    return "-" if x is None else format(x, spec)


def print_table(rows: list[dict], file=sys.stdout) -> None:
    header = ["problem", "N", "impl", "fwd ms", "fwd+bwd ms", "peak MiB", "speedup fwd", "speedup f+b",
              "max rel err", "first s", "note"]
    lines = []
    for r in rows:
        err = None
        if r.get("rel_err"):
            vals = [v for v in r["rel_err"].values() if v is not None]
            err = max(vals) if vals else None
        note = r.get("error", "")
        if r.get("flex_kernel_options"):
            note = "kernel_options " + ",".join(f"{k}={v}" for k, v in r["flex_kernel_options"].items()) + \
                " (default config does not compile)"
        if r["impl"] == "mfjit" and r.get("fastest_peer_fwd"):
            note = f"vs {r['fastest_peer_fwd']} / {r['fastest_peer_fwd_bwd']}"
        lines.append([r["problem"], str(r["N"]), r["impl"],
                      fmt(r.get("fwd_ms")), fmt(r.get("fwd_bwd_ms")), fmt(r.get("peak_mib"), ".1f"),
                      fmt(r.get("speedup_fwd"), ".2f") + ("x" if r.get("speedup_fwd") else ""),
                      fmt(r.get("speedup_fwd_bwd"), ".2f") + ("x" if r.get("speedup_fwd_bwd") else ""),
                      fmt(err, ".1e"), fmt(r.get("first_call_s"), ".1f"),
                      _short(("FAILS " + note) if r["status"] == "fails" else
                             (f"{r['status']}: {note}" if r["status"] != "ok" else note))])
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(header)]
    widths[-1] = len(header[-1])
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for l in lines:
        print("  ".join(c.ljust(w) if i in (0, 2, 10) else c.rjust(w) for i, (c, w) in enumerate(zip(l, widths))),
              file=file)
    file.flush()


def write_json(path: Optional[str], env: dict, args, rows: list[dict], complete: bool) -> None:
    if not path:
        return
    doc = {"benchmark": "evo_attention", "complete": complete, "environment": env,
           "options": {k: v for k, v in vars(args).items() if k != "json"}, "rows": rows}
    p = pathlib.Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str))
    tmp.replace(p)


# ---- main -----------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=list(DEFAULT_N), help="sequence lengths (default: %(default)s)")
    ap.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    ap.add_argument("--impls", nargs="+", choices=list(IMPLS), default=list(IMPLS))
    ap.add_argument("--skip-peers", action="store_true", help="time mfjit only (no eager, SDPA, FlexAttention)")
    ap.add_argument("--dtype", choices=list(DTYPES), default="bf16")
    ap.add_argument("--dbias-mode", choices=list(mf.DBIAS_MODES), default="deterministic")
    ap.add_argument("--mask", choices=("boolean", "additive", "none"), default="boolean",
                    help="key mask kind (default: boolean, ~10%% of keys dropped)")
    ap.add_argument("--key-drop", type=float, default=0.1, help="fraction of dropped keys (default: 0.1)")
    ap.add_argument("--masked-rows", type=float, default=0.0,
                    help="fraction of rows whose keys are all dropped (default 0: never)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--library", default=None, help="libmfjit.so (default: $MFJIT_LIBRARY, else build/*/runtime/)")
    ap.add_argument("--json", default=None, metavar="PATH", help="write the results here (rewritten after each problem)")
    ap.add_argument("--no-check", action="store_true", help="skip the fp32 correctness check")
    ap.add_argument("--warmup-ms", type=float, default=50.0)
    ap.add_argument("--rep-ms", type=float, default=200.0)
    ap.add_argument("--min-reps", type=int, default=5, help="time at least this many calls of slow implementations")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="start no new measurement after this many seconds; the rest is recorded as skipped")
    ap.add_argument("--flex-no-fallback", action="store_true",
                    help="FlexAttention with its default configuration only (no smaller-block retry)")
    ap.add_argument("--verbose", action="store_true", help="print tracebacks of failing implementations")
    args = ap.parse_args(argv)
    if args.skip_peers:
        args.impls = [i for i in args.impls if i not in PEERS]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print("evo_attention.py: no CUDA device visible to torch", file=sys.stderr)
        return 2
    device = torch.device("cuda", torch.cuda.current_device())
    started = time.monotonic()

    mfjit_lib, mfjit_op, mfjit_error = None, None, None
    if "mfjit" in args.impls:
        try:
            mfjit_lib = mf.load_library(args.library)
            mfjit_op = mf.EvoAttention(dbias_mode=args.dbias_mode, library=mfjit_lib)
        except Exception as e:
            mfjit_error = first_line(e)
            print(f"mfjit unavailable: {mfjit_error}", file=sys.stderr)

    env = environment(args, mfjit_lib)
    print(f"# {env['gpu']} ({env['gpu_capability']}), driver {env.get('driver_version')}, torch {env['torch']}, "
          f"triton {env['triton']}, {args.dtype}, mask {args.mask}, dbias {args.dbias_mode}; "
          f"mfjit {env.get('mfjit_library', mfjit_error)}", flush=True)

    rows: list[dict] = []
    broken = None
    for pname in args.problems:
        for n in args.n:
            over_time = args.max_seconds is not None and time.monotonic() - started > args.max_seconds
            if broken or over_time:
                for impl in args.impls:
                    rows.append({"problem": pname, "N": n, "impl": impl, "status": "skipped",
                                 "error": broken or f"over the --max-seconds budget ({args.max_seconds} s)"})
                continue
            p = None
            try:
                p = Problem(pname, n, args.batch, DTYPES[args.dtype], args.mask, args.masked_rows, args.key_drop,
                            args.seed, device)
                ref = None if args.no_check else reference_fp32(p)
            except Exception as e:  # e.g. out of memory for the inputs or the reference
                for impl in args.impls:
                    rows.append({"problem": pname, "N": n, "impl": impl, "status": "fails",
                                 "error": "setup: " + first_line(e)})
                p = ref = None
                free_memory()
                continue
            free_memory(p)
            for impl in args.impls:
                if impl == "mfjit" and mfjit_op is None:
                    row = {"problem": pname, "N": n, "shape": p.shape, "impl": impl, "status": "fails",
                           "error": mfjit_error}
                else:
                    row = run_impl(impl, p, mfjit_op, ref, args)
                rows.append(row)
                print(f"  {pname:9s} N={n:<5d} {impl:6s} " + (
                    f"fwd {row['fwd_ms']:.3f} ms  fwd+bwd {row['fwd_bwd_ms']:.3f} ms  peak {row['peak_mib']:.0f} MiB"
                    f"  first {row['first_call_s']:.1f} s" + (
                        "  rel err " + " ".join(f"{k} {fmt(v, '.1e')}" for k, v in row["rel_err"].items())
                        if row.get("rel_err") else "")
                    if row["status"] == "ok" else f"{row['status']}: {row.get('error')}"), flush=True)
                if row["status"] == "fails" and not cuda_context_ok():
                    broken = f"the CUDA context broke after {impl} on {pname} N={n}: {row.get('error')}"
                    print("  " + broken, flush=True)
                    break
            del p, ref
            free_memory()
            add_speedups(rows)
            write_json(args.json, env, args, rows, complete=False)

    add_speedups(rows)
    print()
    print_table(rows)
    write_json(args.json, env, args, rows, complete=broken is None)
    if args.json:
        print(f"\nwrote {args.json} and {plot.write_svg(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
