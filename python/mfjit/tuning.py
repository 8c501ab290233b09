"""What the process's calls use, and tuning them: describe() lists every cached plan (its
kernel generator, tile configuration and whether that came from the tuning database);
tune() runs mf-tune on the problems this process's plans found untuned, then drops the
cached plans so the next calls build theirs from the winners."""

from __future__ import annotations

from typing import Optional

from . import ops
from .capi import run_mf_tune


def describe(op: Optional[str] = None) -> list[dict]:
    """mf_plan_describe of every plan the process's calls have built (op: only that operator,
    "evo_attention", "layer_norm_linear" or "transition"). Each entry names the op, the pass,
    the backend and device, the generator, the configuration and its source ("tuned:exact",
    "tuned:nearest" for a tuned neighbour's, "default", or "override" from $MFJIT_TILE_CONFIG),
    the problem and the tuning database."""
    described = []
    for runner in ops.all_runners():
        for plan in runner.plans():
            if op is None or plan.op == op:
                described.append(plan.describe())
    return described


def forget_plans() -> None:
    """Drops every cached plan; the next call of each problem builds its plan anew."""
    ops.forget_plans()


def tune(strategy: str = "descent", trials: Optional[int] = None, seconds: Optional[float] = None,
         retune: bool = False, quiet: bool = True) -> list[dict]:
    """Tunes, on each device the process has run on, the problems whose plans found no tuned
    configuration (mf-tune --untuned; with retune, every problem again), stores the winners
    in the tuning database the plans read, and drops the cached plans so that later calls
    use the winners (describe() after those calls shows them). Returns what it tuned: one
    {"backend", "device", "database"} per device. Raises RuntimeError with mf-tune's output
    on failure."""
    plans = [plan for runner in ops.all_runners() for plan in runner.plans()]
    targets = {}
    for plan in plans:
        context = plan.context
        targets[(context.backend, context.device)] = (plan.describe()["tuning_db"], context.library.path)
    for (backend, device), (database, library) in sorted(targets.items()):
        run_mf_tune("mfjit.tune", library, backend, device, database, strategy, trials, seconds, retune, quiet)
    forget_plans()
    return [{"backend": backend, "device": device, "database": database}
            for (backend, device), (database, _) in sorted(targets.items())]
