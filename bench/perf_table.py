#!/usr/bin/env python3
"""The docs/performance.md table of one evo_attention.py run: mfjit next to each peer, and the
fastest peer's time over mfjit's (DESIGN.md §4 asks for at least 2).

    python3 bench/perf_table.py out/evo.json > table.md
"""
from __future__ import annotations

import json
import sys

PEERS = ("eager", "sdpa", "flex", "cueq")
PEER_NAMES = {"eager": "eager", "sdpa": "SDPA", "flex": "Flex", "cueq": "cuEquivariance"}


def ms(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.2f}"


def mib(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def speedup(mine: float | None, peers: dict[str, float]) -> str:
    if mine is None or not peers:
        return "—"
    name, best = min(peers.items(), key=lambda kv: kv[1])
    return f"{best / mine:.2f}× ({PEER_NAMES[name]})"


def table(run: dict) -> str:
    by_problem: dict[tuple[str, int], dict[str, dict]] = {}
    shapes: dict[str, str] = {}
    for row in run["rows"]:
        by_problem.setdefault((row["problem"], row["N"]), {})[row["impl"]] = row
        # The shape with N spelled as N: "[1, N, N, 4, 32]".
        shapes[row["problem"]] = "[" + ", ".join("N" if d == row["N"] else str(d) for d in row.get("shape", [])) + "]"
    lines = ["| problem | N | mfjit fwd | mfjit fwd+bwd | mfjit MiB | eager | SDPA (bias materialised) | "
             "FlexAttention (compiled) | cuEquivariance | Flex MiB | speed-up fwd | speed-up fwd+bwd |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    last = None
    for (problem, n), impls in by_problem.items():
        ok = {name: r for name, r in impls.items() if r.get("status") == "ok"}
        mine = ok.get("mfjit")
        cells = []
        for peer in PEERS:
            r = ok.get(peer)
            cells.append(f"{ms(r['fwd_ms'])} / {ms(r['fwd_bwd_ms'])}" if r else impls.get(peer, {}).get("status", "—"))
        flex = ok.get("flex")
        label = f"{problem} {shapes[problem]}" if problem != last else ""
        last = problem
        lines.append("| " + " | ".join([
            label, str(n),
            ms(mine["fwd_ms"]) if mine else "—",
            ms(mine["fwd_bwd_ms"]) if mine else "—",
            mib(mine["peak_mib"]) if mine else "—",
            *cells,
            mib(flex["peak_mib"]) if flex else "—",
            speedup(mine and mine["fwd_ms"], {p: ok[p]["fwd_ms"] for p in PEERS if p in ok}),
            speedup(mine and mine["fwd_bwd_ms"], {p: ok[p]["fwd_bwd_ms"] for p in PEERS if p in ok}),
        ]) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        print(table(json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
