"""What the process's JAX calls use, and tuning them (as mfjit.tuning for torch): describe()
lists the plans libmfjit_jax holds, tune() runs mf-tune on the problems they found untuned,
then drops the plans and JAX's compiled functions so that the next calls trace again and
take the winners (and the workspaces those need)."""

from __future__ import annotations

import json
from typing import Optional

import jax

from .. import capi
from . import _ffi


def _entries() -> list[dict]:
    return json.loads(_ffi.library().describe())


def describe(op: Optional[str] = None) -> list[dict]:
    """mf_plan_describe of every plan the process's JAX calls have made (op: only that
    operator, "evo_attention", "layer_norm_linear" or "transition"): the op, the pass, the
    backend and device, the generator, the configuration and its source ("tuned:exact",
    "tuned:nearest", "default", "override"), the problem and the tuning database."""
    return [entry["plan"] for entry in _entries() if op is None or entry["plan"].get("op") == op]


def forget_plans() -> None:
    """Drops every cached plan and JAX's compiled functions (jax.clear_caches()): the next
    call of each problem traces again and makes its plan anew."""
    _ffi.library().forget_plans()
    _ffi.forget_workspaces()
    jax.clear_caches()


def tune(strategy: str = "descent", trials: Optional[int] = None, seconds: Optional[float] = None,
         retune: bool = False, quiet: bool = True) -> list[dict]:
    """Tunes, on each device the process's JAX calls have run on, the problems whose plans
    found no tuned configuration (mf-tune --untuned; with retune, every problem again), stores
    the winners in the tuning database the plans read, then forget_plans(): later calls trace
    again and use the winners. Returns one {"backend", "device", "database"} per device.
    Raises RuntimeError with mf-tune's output on failure."""
    targets = {}
    for entry in _entries():
        targets[(entry["backend"], entry["device"])] = entry["plan"]["tuning_db"]
    library = _ffi.library().core.path
    for (backend, device), database in sorted(targets.items()):
        capi.run_mf_tune("mfjit.jax.tune", library, backend, device, database, strategy, trials, seconds, retune,
                         quiet)
    forget_plans()
    return [{"backend": backend, "device": device, "database": database}
            for (backend, device), database in sorted(targets.items())]
