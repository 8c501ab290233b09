"""Pictures of a benchmark's JSON: time against size per implementation, one SVG per file.

    python3 bench/plot.py out/evo.json            # writes out/evo.svg
    python3 bench/plot.py run.json --out fig.svg

Reads what bench/evo_attention.py, layer_norm_linear.py, transition.py and pairformer.py
write with --json (each also calls write_svg itself, so an SVG lies beside every JSON).
For every problem of the run (e.g. triangle; or M for the row operators) one row of panels:
the forward and the forward+backward times against the size, log-log, one line per
implementation, and mfjit's speed-up over the fastest other implementation at each size
(above 1: mfjit is faster). Plain Python, no plotting library: the GPU machine has none
and a picture should not need one.
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
from dataclasses import dataclass
from xml.sax.saxutils import escape

# Colours by implementation, fixed so that pictures of different runs read the same.
COLOURS = {"mfjit": "#d62728", "flex": "#1f77b4", "compile": "#1f77b4", "torch.compile": "#1f77b4",
           "cueq": "#2ca02c", "sdpa": "#9467bd", "eager": "#7f7f7f", "torch": "#7f7f7f"}
OTHER_COLOURS = ["#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


@dataclass
class Layout:
    """What the rows of one benchmark's JSON mean."""
    size: str            # the x axis (a row field)
    series: str          # the field naming the implementation
    groups: tuple        # fields that split rows into separate rows of panels
    times: tuple         # (field, panel title) per time panel
    size_label: str


def layout_of(run: dict) -> Layout:
    rows = run["rows"]
    keys = set().union(*(r.keys() for r in rows)) if rows else set()
    if "step_ms" in keys:  # bench/pairformer.py
        return Layout("tokens", "engine", (), (("step_ms", "training step"),), "tokens")
    if "problem" in keys:  # bench/evo_attention.py
        return Layout("N", "impl", ("problem",), (("fwd_ms", "forward"), ("fwd_bwd_ms", "forward+backward")), "N")
    if "e" in keys:  # bench/transition.py: size M per (D, E)
        return Layout("m", "impl", ("d", "e"), (("fwd_ms", "forward"), ("fwd_bwd_ms", "forward+backward")), "M")
    # bench/layer_norm_linear.py: size N per (M, K)
    return Layout("n", "impl", ("m", "k"), (("fwd_ms", "forward"), ("fwd_bwd_ms", "forward+backward")), "N")


def colour(name: str, seen: dict) -> str:
    if name not in seen:
        seen[name] = COLOURS.get(name, OTHER_COLOURS[len(seen) % len(OTHER_COLOURS)])
    return seen[name]


class Panel:
    """One log-log (or log-y) chart at (x0, y0) of w × h pixels, drawn into `out`."""

    def __init__(self, out: list, x0: float, y0: float, w: float, h: float, xs: list, ys: list, title: str,
                 x_label: str, y_label: str, log_y: bool = True):
        self.out, self.x0, self.y0, self.w, self.h, self.log_y = out, x0, y0, w, h, log_y
        self.xmin, self.xmax = min(xs), max(xs)
        lo, hi = min(ys), max(ys)
        if log_y:
            self.ymin, self.ymax = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
        else:
            self.ymin, self.ymax = min(0.0, lo), max(1.15 * hi, 1.2)
        self.frame(title, x_label, y_label, sorted(set(xs)))

    def px(self, x: float) -> float:
        if self.xmax == self.xmin:
            return self.x0 + self.w / 2
        return self.x0 + self.w * (math.log(x) - math.log(self.xmin)) / (math.log(self.xmax) - math.log(self.xmin))

    def py(self, y: float) -> float:
        if self.log_y:
            t = (math.log10(y) - math.log10(self.ymin)) / (math.log10(self.ymax) - math.log10(self.ymin))
        else:
            t = (y - self.ymin) / (self.ymax - self.ymin)
        return self.y0 + self.h * (1 - t)

    def frame(self, title: str, x_label: str, y_label: str, ticks: list) -> None:
        o = self.out
        o.append(f'<rect x="{self.x0}" y="{self.y0}" width="{self.w}" height="{self.h}" fill="none" stroke="#444"/>')
        o.append(f'<text x="{self.x0 + self.w / 2}" y="{self.y0 - 8}" text-anchor="middle" '
                 f'font-weight="bold">{escape(title)}</text>')
        for x in ticks:
            o.append(f'<text x="{self.px(x):.1f}" y="{self.y0 + self.h + 16}" text-anchor="middle">{x:g}</text>')
        o.append(f'<text x="{self.x0 + self.w / 2}" y="{self.y0 + self.h + 34}" text-anchor="middle">'
                 f'{escape(x_label)}</text>')
        for y in self.y_ticks():
            yy = self.py(y)
            o.append(f'<line x1="{self.x0}" y1="{yy:.1f}" x2="{self.x0 + self.w}" y2="{yy:.1f}" stroke="#ddd"/>')
            o.append(f'<text x="{self.x0 - 6}" y="{yy + 4:.1f}" text-anchor="end">{y:g}</text>')
        o.append(f'<text transform="translate({self.x0 - 48},{self.y0 + self.h / 2}) rotate(-90)" '
                 f'text-anchor="middle">{escape(y_label)}</text>')

    def y_ticks(self) -> list:
        if self.log_y:
            e0, e1 = round(math.log10(self.ymin)), round(math.log10(self.ymax))
            return [10.0 ** e for e in range(e0, e1 + 1)]
        step = 10 ** math.floor(math.log10((self.ymax - self.ymin) / 2 or 1.0))
        first = math.ceil(self.ymin / step) * step
        return [first + i * step for i in range(int((self.ymax - first) / step) + 1)]

    def line(self, points: list, stroke: str, name: str, dashed: bool = False) -> None:
        coords = " ".join(f"{self.px(x):.1f},{self.py(y):.1f}" for x, y in points)
        dash = ' stroke-dasharray="6,4"' if dashed else ""
        self.out.append(f'<polyline class="series" data-name="{escape(name)}" points="{coords}" fill="none" '
                        f'stroke="{stroke}" stroke-width="2"{dash}/>')
        for x, y in points:
            self.out.append(f'<circle cx="{self.px(x):.1f}" cy="{self.py(y):.1f}" r="3" fill="{stroke}"/>')

    def hline(self, y: float, stroke: str) -> None:
        yy = self.py(y)
        self.out.append(f'<line x1="{self.x0}" y1="{yy:.1f}" x2="{self.x0 + self.w}" y2="{yy:.1f}" '
                        f'stroke="{stroke}" stroke-dasharray="3,3"/>')


def ok_time(row: dict, field: str) -> float | None:
    value = row.get(field)
    if row.get("status", "ok") != "ok" or not isinstance(value, (int, float)) or value <= 0:
        return None
    return float(value)


def speedups(rows: list, lay: Layout, field: str) -> list:
    """(size, mfjit's time over the fastest other implementation's) where both ran."""
    by_size: dict = {}
    for r in rows:
        t = ok_time(r, field)
        if t is not None:
            by_size.setdefault(r[lay.size], {})[r[lay.series]] = t
    points = []
    for size, times in sorted(by_size.items()):
        peers = [t for name, t in times.items() if name != "mfjit"]
        if "mfjit" in times and peers:
            points.append((size, min(peers) / times["mfjit"]))
    return points


def svg(run: dict, title: str) -> str:
    lay = layout_of(run)
    rows = [r for r in run["rows"] if lay.size in r and lay.series in r]
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r.get(g) for g in lay.groups), []).append(r)
    has_mfjit = any(r[lay.series] == "mfjit" for r in rows)
    panels = len(lay.times) + (1 if has_mfjit else 0)
    pw, ph, left, top, gap = 300, 220, 80, 70, 90
    width = left + panels * (pw + gap)
    height = top + len(groups) * (ph + 90)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="24" font-size="15" font-weight="bold">{escape(title)}</text>']
    seen: dict = {}
    names = sorted({r[lay.series] for r in rows if any(ok_time(r, f) for f, _ in lay.times)},
                   key=lambda n: (n != "mfjit", n))
    for i, name in enumerate(names):  # legend
        x = left + i * 120
        out.append(f'<line x1="{x}" y1="42" x2="{x + 24}" y2="42" stroke="{colour(name, seen)}" stroke-width="3"/>')
        out.append(f'<text x="{x + 30}" y="46">{escape(name)}</text>')
    for gi, (key, group_rows) in enumerate(sorted(groups.items(), key=lambda kv: str(kv[0]))):
        y0 = top + 20 + gi * (ph + 90)
        label = ", ".join(f"{g} = {v}" for g, v in zip(lay.groups, key))
        for pi, (field, panel_title) in enumerate(lay.times):
            series = {}
            for r in group_rows:
                t = ok_time(r, field)
                if t is not None:
                    series.setdefault(r[lay.series], []).append((r[lay.size], t))
            if not series:
                continue
            points = [p for s in series.values() for p in s]
            panel = Panel(out, left + pi * (pw + gap), y0, pw, ph, [p[0] for p in points],
                          [p[1] for p in points], f"{label}: {panel_title}" if label else panel_title,
                          lay.size_label, "ms (log)")
            for name in names:
                if name in series:
                    panel.line(sorted(series[name]), colour(name, seen), name)
        if has_mfjit:
            pi = len(lay.times)
            curves = [(field, speedups(group_rows, lay, field)) for field, _ in lay.times]
            points = [p for _, c in curves for p in c]
            if points:
                panel = Panel(out, left + pi * (pw + gap), y0, pw, ph, [p[0] for p in points],
                              [p[1] for p in points] + [1.0], f"{label}: mfjit's speed-up" if label
                              else "mfjit's speed-up", lay.size_label, "× the fastest peer", log_y=False)
                panel.hline(1.0, "#444")
                for (field, curve), dashed in zip(curves, (False, True)):
                    if curve:
                        panel.line(curve, COLOURS["mfjit"], f"speed-up {field}", dashed=dashed)
                out.append(f'<text x="{panel.x0}" y="{panel.y0 + ph + 50}">solid: {escape(lay.times[0][1])}'
                           f'{", dashed: " + escape(lay.times[1][1]) if len(lay.times) > 1 else ""}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def title_of(run: dict, path: pathlib.Path) -> str:
    env = run.get("environment", {})
    gpu = env.get("gpu") or run.get("gpu") or run.get("device") or ""
    date = (env.get("date") or "")[:10]
    return " — ".join(x for x in (run.get("benchmark") or path.stem, gpu, date) if x)


def write_svg(json_path: str | pathlib.Path, svg_path: str | pathlib.Path | None = None) -> pathlib.Path:
    """Writes the SVG of a benchmark JSON (beside it unless svg_path says otherwise)."""
    json_path = pathlib.Path(json_path)
    target = pathlib.Path(svg_path) if svg_path else json_path.with_suffix(".svg")
    run = json.loads(json_path.read_text())
    target.write_text(svg(run, title_of(run, json_path)))
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", type=pathlib.Path)
    ap.add_argument("--out", type=pathlib.Path, default=None)
    args = ap.parse_args(argv)
    print(write_svg(args.json, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
