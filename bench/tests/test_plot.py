"""bench/plot.py: every benchmark's JSON becomes an SVG whose lines are the measured times.

Checks the picture's content against the rows it was drawn from (the points of each line,
in the panel's own log scale), not only that it parses.
"""
import json
import math
import pathlib
import sys
import xml.etree.ElementTree as ET

import pytest

BENCH = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))
import plot  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def evo_run():
    rows = []
    for n, flex, mfjit in ((128, 0.13, 0.02), (384, 0.20, 0.22), (1024, 3.2, 3.4)):
        rows.append(dict(problem="triangle", N=n, impl="flex", status="ok", fwd_ms=flex, fwd_bwd_ms=4 * flex))
        rows.append(dict(problem="triangle", N=n, impl="mfjit", status="ok", fwd_ms=mfjit, fwd_bwd_ms=5 * mfjit))
    rows.append(dict(problem="triangle", N=1024, impl="cueq", status="fails", error="ImportError"))
    return {"benchmark": "evo_attention", "environment": {"gpu": "H100", "date": "2026-12-07T00:00"}, "rows": rows}


def series(svg_text):
    root = ET.fromstring(svg_text)
    return {(p.get("data-name"), i): [tuple(map(float, xy.split(","))) for xy in p.get("points").split()]
            for i, p in enumerate(root.iter(SVG + "polyline"))}


def test_every_implementation_that_ran_is_a_line_and_failures_are_left_out():
    lines = series(plot.svg(evo_run(), "t"))
    names = sorted({name for name, _ in lines})
    assert names == ["flex", "mfjit", "speed-up fwd_bwd_ms", "speed-up fwd_ms"]
    # forward and forward+backward panels: one line each per implementation, 3 sizes each
    assert sum(1 for name, _ in lines if name == "mfjit") == 2
    assert all(len(points) == 3 for points in lines.values())


def test_points_follow_the_times_on_a_log_scale():
    lines = series(plot.svg(evo_run(), "t"))
    flex_fwd = next(points for (name, _), points in lines.items() if name == "flex")
    xs = [x for x, _ in flex_fwd]
    ys = [y for _, y in flex_fwd]
    assert xs == sorted(xs)
    # log-log: equal ratios of N are equal distances
    assert (xs[1] - xs[0]) / (xs[2] - xs[1]) == pytest.approx(math.log(3) / math.log(1024 / 384), rel=1e-2)
    # larger times are higher up (smaller y in SVG); ratios of times are ratios of distances
    assert ys[0] > ys[1] > ys[2]
    assert (ys[0] - ys[1]) / (ys[1] - ys[2]) == pytest.approx(math.log(0.20 / 0.13) / math.log(3.2 / 0.20), rel=1e-2)


def test_speed_up_is_the_fastest_peer_over_mfjit():
    assert plot.speedups(evo_run()["rows"], plot.layout_of(evo_run()), "fwd_ms") == [
        (128, pytest.approx(0.13 / 0.02)), (384, pytest.approx(0.20 / 0.22)), (1024, pytest.approx(3.2 / 3.4))]


@pytest.mark.parametrize("run, panels", [
    ({"rows": [dict(m=147456, k=128, n=n, impl=i, status="ok", fwd_ms=t, fwd_bwd_ms=3 * t)
               for n, t in ((16, 0.1), (640, 0.3)) for i in ("compile", "mfjit")]}, 3),
    ({"rows": [dict(m=m, d=128, e=4, impl=i, status="ok", fwd_ms=m / 1e5, fwd_bwd_ms=m / 3e4)
               for m in (384, 4096) for i in ("compile", "mfjit")]}, 3),
    ({"rows": [dict(tokens=t, engine=e, step_ms=t / 10, peak_mib=1.0) for t in (384, 768)
               for e in ("mfjit", "torch.compile")]}, 2),
])
def test_row_operators_and_pairformer_runs_draw(run, panels):
    root = ET.fromstring(plot.svg(run, "t"))
    frames = [r for r in root.iter(SVG + "rect") if r.get("fill") == "none"]
    assert len(frames) == panels


def test_write_svg_beside_the_json(tmp_path):
    path = tmp_path / "evo.json"
    path.write_text(json.dumps(evo_run()))
    out = plot.write_svg(path)
    assert out == tmp_path / "evo.svg"
    assert "H100" in out.read_text()


def test_the_recorded_h100_run_draws():
    recorded = BENCH / "notes" / "evo_2026-12-07_h100.json"
    lines = series(plot.svg(json.loads(recorded.read_text()), "t"))
    assert {"mfjit", "flex", "cueq", "sdpa", "eager"} <= {name for name, _ in lines}
