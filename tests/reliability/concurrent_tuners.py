#!/usr/bin/env python3
"""Concurrent tuners on one machine (issue 27.3): N mf-tune processes on the cpu backend share
one tuning database and the machine's cores, each tuning its own share of several hundred
small problems. The contention makes every measurement noisy; the figures say what the
winners are worth.

Not part of CI (minutes of every core); `ctest --preset reliability` runs it with --check.
Usage, from the repository root after a build:

    tests/reliability/concurrent_tuners.py [--processes 8] [--problems 480] [--work DIR]
        [--mf-tune build/release/tools/mf-tune/mf-tune] [--quiet-check [--quiet-db DB]]
        [--analyse-only] [--check] [-- extra mf-tune arguments, e.g. --on-noise default]

It writes DIR/problems-<i>.json (forward problems: EvoAttention of MSA-row shape,
LayerNormLinear, Transition, sizes chosen so that every problem has its own key), runs the
processes at once into DIR/tuning.db, then reads the database (SQLite) and prints, per
winner:
  - the recorded time against the best configuration that run measured for the problem,
    two ways: (a) each configuration's fastest measurement (the decision's statistic), and
    (b) each configuration's median over its measurements (a statistic the decision did
    not use, so the comparison is not true by construction);
  - the noise notes: how many decisions were noisy, settled, unsettled, kept the default;
  - the margins.
With --quiet-check it then tunes the same problems again in one process (no contention) into
DIR/quiet.db and compares each concurrent winner's configuration with the best one there, by
each configuration's fastest measurement and by the median of its measurements: how much the
contention cost the winners, measured without it.
"""
import argparse
import itertools
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time


def tensor(dtype, shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.insert(0, step)
        step *= size
    return {"dtype": dtype, "shape": list(shape), "strides": strides}


def forward(op, desc):
    return {"op": op, "desc": desc, "direction": {"pass": "forward", "gradients": 0}}


def evo_msa_row(s, n, h, d, masked):
    """EvoAttention over the rows of an MSA: q, k, v, o [1, S, N, H, D], bias [1, 1, H, N, N]."""
    desc = {
        "q": tensor("bf16", (1, s, n, h, d)), "k": tensor("bf16", (1, s, n, h, d)),
        "v": tensor("bf16", (1, s, n, h, d)), "o": tensor("bf16", (1, s, n, h, d)),
        "bias": tensor("bf16", (1, 1, h, n, n)), "lse": tensor("f32", (1, s, h, n)),
        "mask_kind": "boolean" if masked else "none", "dbias_mode": "deterministic",
    }
    if masked:
        desc["mask"] = tensor("bool", (1, s, 1, 1, n))
    return forward("evo_attention", desc)


def layer_norm_linear(m, k, n):
    return forward("layer_norm_linear", {
        "x": tensor("bf16", (m, k)), "gamma": tensor("f32", (k,)), "beta": tensor("f32", (k,)),
        "weight": tensor("bf16", (k, n)), "y": tensor("bf16", (m, n)),
        "mean": tensor("f32", (m,)), "rstd": tensor("f32", (m,)),
    })


def transition(m, d, e):
    f = d * e
    return forward("transition", {
        "x": tensor("bf16", (m, d)), "gamma": tensor("bf16", (d,)), "beta": tensor("bf16", (d,)),
        "w1": tensor("bf16", (d, 2 * f)), "w2": tensor("bf16", (f, d)), "y": tensor("bf16", (m, d)),
        "mean": tensor("f32", (m,)), "rstd": tensor("f32", (m,)),
    })


def problems(count):
    """Small forward problems with distinct keys (docs/problem-key.md: exact head and feature
    dimensions, power-of-two buckets of the sizes), interleaved by kind."""
    evo = [evo_msa_row(s, n, h, d, masked)
           for d in range(8, 129, 8) for n in (16, 32, 64) for (s, h) in ((1, 1), (2, 1), (2, 2), (4, 2))
           for masked in (True, False)]
    lnl = [layer_norm_linear(m, k, n) for k in (16, 32, 64, 128) for n in (4, 8, 16, 32, 64, 128)
           for m in (16, 64, 256)]
    tra = [transition(m, d, e) for d in (16, 32, 48, 64) for e in (2, 4) for m in (16, 64, 256)]
    mixed = [p for group in itertools.zip_longest(evo, lnl, tra) for p in group if p is not None]
    return mixed[:count]


def run(args):
    os.makedirs(args.work, exist_ok=True)
    database = os.path.join(args.work, "tuning.db")
    all_problems = problems(args.problems)
    with open(os.path.join(args.work, "problems.json"), "w") as f:
        json.dump(all_problems, f)
    procs = []
    started = time.monotonic()
    for i in range(args.processes):
        share = all_problems[i::args.processes]
        path = os.path.join(args.work, f"problems-{i}.json")
        with open(path, "w") as f:
            json.dump(share, f)
        log = open(os.path.join(args.work, f"mf-tune-{i}.log"), "w")
        command = [args.mf_tune, "--backend", "cpu", "--db", database, "--problems", path] + args.extra
        env = dict(os.environ, MFJIT_CACHE_DIR=os.path.join(args.work, "cache"))
        procs.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log))
    statuses = [p.wait() for p, _ in procs]
    args.statuses = statuses
    for _, log in procs:
        log.close()
    print(f"{args.processes} mf-tune processes, {len(all_problems)} problems, {time.monotonic() - started:.0f} s, "
          f"exit statuses {statuses}")
    return database


def analyse(database):
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    columns = {row[1] for row in db.execute("PRAGMA table_info(winners)")}
    noise = "w.noise" if "noise" in columns else "''"
    winners = db.execute(f"""
        SELECT w.problem_id, w.device_id, w.generator_hash, t.config, t.median_us, w.margin, {noise}
        FROM winners w JOIN trials t ON t.id = w.trial_id""").fetchall()
    ratios_fastest, ratios_median, margins = [], [], []
    notes = {"noisy": 0, "settled": 0, "unsettled": 0, "kept": 0}
    for problem, device, generator_hash, config, time_us, margin, note in winners:
        by_config = {}
        for c, m in db.execute("""SELECT config, median_us FROM trials WHERE problem_id = ? AND device_id = ?
                                  AND generator_hash = ? AND status = 'ok'""", (problem, device, generator_hash)):
            by_config.setdefault(c, []).append(m)
        fastest = min(min(v) for v in by_config.values())
        ratios_fastest.append(time_us / fastest)
        medians = {c: statistics.median(v) for c, v in by_config.items()}
        ratios_median.append(medians[config] / min(medians.values()))
        margins.append(margin)
        if note:
            notes["noisy"] += 1
            notes["kept" if "kept the default" in note else "unsettled" if "unsettled" in note else "settled"] += 1

    def describe(ratios, what):
        over = sum(r > 1.10 for r in ratios)
        print(f"  {what}: {over} of {len(ratios)} winners more than 10 % slower than the best configuration, "
              f"{sum(r > 1.5 for r in ratios)} more than 1.5x, worst {max(ratios):.2f}x")

    print(f"{len(winners)} winners")
    describe(ratios_fastest, "by each configuration's fastest measurement (the decision's statistic)")
    describe(ratios_median, "by each configuration's median over its measurements")
    print(f"  margins: lowest {100 * min(margins):.1f} %, {sum(m < -0.03 for m in margins)} below -3 %")
    print(f"  noisy decisions: {notes['noisy']} ({notes['settled']} settled, {notes['unsettled']} unsettled, "
          f"{notes['kept']} kept the default)")


def configuration_times(db, key):
    """Each configuration's measurement medians in `db` for the problem `key`."""
    by_config = {}
    for config, median in db.execute("""SELECT t.config, t.median_us FROM trials t JOIN problems p ON p.id = t.problem_id
                                        WHERE p.key = ? AND t.status = 'ok'""", (key,)):
        by_config.setdefault(config, []).append(median)
    return by_config


def quiet_check(args, database):
    quiet = args.quiet_db or os.path.join(args.work, "quiet.db")
    if not args.quiet_db:
        # The same problems without --on-noise or other extras: the decision a quiet machine makes.
        command = [args.mf_tune, "--backend", "cpu", "--db", quiet, "--retune", "--problems",
                   os.path.join(args.work, "problems.json")]
        env = dict(os.environ, MFJIT_CACHE_DIR=os.path.join(args.work, "cache"))
        started = time.monotonic()
        with open(os.path.join(args.work, "quiet.log"), "w") as log:
            status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
        print(f"quiet check: one mf-tune process, {time.monotonic() - started:.0f} s, exit status {status}")
    busy = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    calm = sqlite3.connect(f"file:{quiet}?mode=ro", uri=True)
    ratios = {"fastest": [], "median": []}
    agree = 0
    for key, config in busy.execute("""SELECT p.key, t.config FROM winners w JOIN trials t ON t.id = w.trial_id
                                       JOIN problems p ON p.id = w.problem_id"""):
        times = configuration_times(calm, key)
        if config not in times:
            continue
        for name, statistic in (("fastest", min), ("median", statistics.median)):
            quiet_time = {c: statistic(v) for c, v in times.items()}
            ratios[name].append(quiet_time[config] / min(quiet_time.values()))
        calm_winner = calm.execute("""SELECT t.config FROM winners w JOIN trials t ON t.id = w.trial_id
                                      JOIN problems p ON p.id = w.problem_id WHERE p.key = ?""", (key,)).fetchone()
        agree += calm_winner is not None and calm_winner[0] == config
    print(f"the concurrent winners measured without contention: {agree} of {len(ratios['fastest'])} are the quiet "
          f"run's winner")
    for name, what in (("fastest", "fastest measurement"), ("median", "median of measurements")):
        r = ratios[name]
        print(f"  by each configuration's {what} in the quiet run: {sum(x > 1.10 for x in r)} of {len(r)} more than "
              f"10 % slower than the quiet best, {sum(x > 1.5 for x in r)} more than 1.5x, worst {max(r):.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--problems", type=int, default=480)
    parser.add_argument("--work", default="/tmp/mfjit-concurrent-tuners")
    parser.add_argument("--mf-tune", default="build/release/tools/mf-tune/mf-tune")
    parser.add_argument("--analyse-only", action="store_true", help="read an existing DIR/tuning.db")
    parser.add_argument("--quiet-check", action="store_true",
                        help="then tune the same problems in one process into DIR/quiet.db and compare")
    parser.add_argument("--quiet-db", help="with --quiet-check: compare with this database of an earlier quiet "
                                           "check (same problems) instead of tuning again")
    parser.add_argument("--check", action="store_true",
                        help="start from an empty database and exit 1 unless every process succeeded, every problem "
                             "has a winner and the file passes SQLite's integrity check (ctest: reliability)")
    parser.add_argument("extra", nargs="*", help="more mf-tune arguments, after --")
    args = parser.parse_args()
    if args.check and not args.analyse_only:
        for suffix in ("", "-wal", "-shm"):
            path = os.path.join(args.work, "tuning.db" + suffix)
            if os.path.exists(path):
                os.remove(path)
    database = os.path.join(args.work, "tuning.db") if args.analyse_only else run(args)
    analyse(database)
    if args.quiet_check:
        quiet_check(args, database)
    if args.check:
        return check(args, database)
    return 0


def check(args, database):
    """The experiment's promises: no process failed, no problem lost its winner, the file is sound."""
    failures = []
    statuses = getattr(args, "statuses", [])
    if any(statuses):
        failures.append(f"mf-tune exit statuses {statuses}")
    db = sqlite3.connect(database)
    winners = db.execute("SELECT count(*) FROM winners").fetchone()[0]
    if winners != args.problems:
        failures.append(f"{winners} winners for {args.problems} problems")
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    if integrity != "ok":
        failures.append(f"integrity_check: {integrity}")
    dangling = db.execute("""SELECT count(*) FROM winners w LEFT JOIN trials t ON t.id = w.trial_id
                             WHERE t.id IS NULL OR t.status <> 'ok'""").fetchone()[0]
    if dangling:
        failures.append(f"{dangling} winners without their successful trial")
    print("check: " + ("; ".join(failures) if failures else
                       f"every process succeeded, {winners} winners for {args.problems} problems, integrity ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
