"""Reports of experiment runs: a plain-text summary and an SVG chart of the timing
distributions (written by hand: one row per arm, a box from the first to the third
quartile with the median, whiskers to the extremes and every sample as a dot)."""

from __future__ import annotations

import math
from typing import Any
from xml.sax.saxutils import escape

ROW = 34
LEFT = 150
RIGHT = 30
TOP = 44
WIDTH = 760
COLORS = {"baseline": "#4b5563", "faster": "#15803d", "slower": "#b91c1c",
          "no significant difference": "#2563eb"}
WRONG = "#a16207"


def duration(ns: float | None) -> str:
    if ns is None or not math.isfinite(ns):
        return "—"
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.3g} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.3g} ms"
    return f"{ns / 1e9:.3g} s"


def _arms(report: dict[str, Any]) -> list[tuple[str, list[float], str, str]]:
    """(label, samples, colour, note) per arm with samples."""
    arms = []
    baseline = report.get("baseline") or {}
    if baseline.get("samples"):
        arms.append(("baseline", [float(x) for x in baseline["samples"]], COLORS["baseline"], ""))
    for v in report.get("variants") or []:
        if not v.get("samples"):
            continue
        verdict = (v.get("comparison") or {}).get("verdict", "")
        colour = COLORS.get(verdict, COLORS["no significant difference"])
        note = verdict
        if v.get("correct") is False:
            colour, note = WRONG, f"{verdict}, results differ"
        arms.append((str(v.get("name")), [float(x) for x in v["samples"]], colour, note))
    return arms


def svg(report: dict[str, Any], title: str | None = None) -> str:
    """The timing chart: per-round wall time of each arm (log scale when they span > 20x)."""
    arms = _arms(report)
    height = TOP + ROW * max(1, len(arms)) + 40
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">'),
           f'<rect width="{WIDTH}" height="{height}" fill="white"/>']
    heading = title or f"{report.get('target', '')}: wall time per round " \
        f"({report.get('rounds', '?')} rounds over {(report.get('inputs') or {}).get('count', '?')} inputs)"
    out.append(f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(heading)}</text>')
    everything = [x for _, samples, _, _ in arms for x in samples if x > 0]
    if not everything:
        out.append(f'<text x="10" y="{TOP + 14}">no timings</text></svg>')
        return "\n".join(out) + "\n"
    low, high = min(everything), max(everything)
    log = high / low > 20
    if log:
        lo, hi = math.log10(low) - 0.05, math.log10(high) + 0.05
    else:
        pad = (high - low) * 0.05 or high * 0.05 or 1.0
        lo, hi = max(0.0, low - pad), high + pad
    span = (hi - lo) or 1.0
    plot = WIDTH - LEFT - RIGHT

    def x_of(value: float) -> float:
        v = math.log10(max(value, 1e-9)) if log else value
        return LEFT + (v - lo) / span * plot

    bottom = TOP + ROW * len(arms)
    out.append(f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" '
               'stroke="#9ca3af"/>')
    for tick in _ticks(lo, hi, log):
        x = x_of(tick)
        out.append(f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{bottom}" '
                   'stroke="#e5e7eb"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" fill="#374151">'
                   f'{escape(duration(tick))}</text>')
    for row, (label, samples, colour, note) in enumerate(arms):
        y = TOP + ROW * row + ROW / 2
        ordered = sorted(samples)
        q1, med, q3 = (_q(ordered, 0.25), _q(ordered, 0.5), _q(ordered, 0.75))
        out.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<line x1="{x_of(ordered[0]):.1f}" y1="{y:.1f}" x2="{x_of(ordered[-1]):.1f}" '
                   f'y2="{y:.1f}" stroke="{colour}"/>')
        out.append(f'<rect x="{x_of(q1):.1f}" y="{y - 9:.1f}" width="{max(1.0, x_of(q3) - x_of(q1)):.1f}" '
                   f'height="18" fill="{colour}" fill-opacity="0.18" stroke="{colour}"/>')
        out.append(f'<line x1="{x_of(med):.1f}" y1="{y - 11:.1f}" x2="{x_of(med):.1f}" '
                   f'y2="{y + 11:.1f}" stroke="{colour}" stroke-width="2.5"/>')
        for i, value in enumerate(samples):
            jitter = ((i * 7919) % 13 - 6) * 0.9
            out.append(f'<circle cx="{x_of(value):.1f}" cy="{y + jitter:.1f}" r="1.8" '
                       f'fill="{colour}" fill-opacity="0.6"/>')
        if note:
            out.append(f'<title>{escape(label)}: median {escape(duration(med))}, {escape(note)}'
                       '</title>')
    legend = "box: quartiles, bar: median, dots: rounds" + (" (log scale)" if log else "")
    out.append(f'<text x="{LEFT}" y="{bottom + 34}" fill="#6b7280">{escape(legend)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _q(ordered: list[float], q: float) -> float:
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        return [10.0 ** e for e in range(math.ceil(lo), math.floor(hi) + 1)]
    step = 10 ** math.floor(math.log10((hi - lo) / 4 or 1.0))
    for factor in (1, 2, 5, 10):
        if (hi - lo) / (step * factor) <= 6:
            step *= factor
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


# -- text ---------------------------------------------------------------------------------------------


def _outcome(o: dict[str, Any]) -> str:
    if o.get("status") == "returned":
        return f"returned {o.get('value')}"
    if o.get("status") == "raised":
        return f"raised {o.get('type')}: {o.get('message')}"
    return str(o.get("status"))


def text(report: dict[str, Any], *, differences: int = 5) -> str:
    """A readable summary of one run."""
    lines = []
    inputs = report.get("inputs") or {}
    env = report.get("environment") or {}
    head = (f"Experiment {report.get('experiment', '')}: {report.get('target')} on "
            f"{inputs.get('count', 0)} inputs")
    missing = inputs.get("unreconstructedCount") or len(inputs.get("skipped") or [])
    if missing:
        head += f" ({missing} could not be reconstructed)"
    head += (f", {report.get('rounds', 0)} rounds, {env.get('isolation', '?')} isolation"
             f" ({report.get('where', 'offline')}, Python {env.get('python', '?')})")
    lines.append(head)
    if report.get("status") != "ok":
        err = report.get("error") or {}
        lines.append(f"  failed: {err.get('type')}: {err.get('message')}")
        return "\n".join(lines) + "\n"
    rows = [("arm", "status", "correct", "median/round", "IQR", "CPU/round", "memory peak",
             "vs baseline", "verdict")]
    base = report.get("baseline") or {}
    rows.append(("baseline", "ok", "—", duration((base.get("wall") or {}).get("median")),
                 duration((base.get("wall") or {}).get("iqr")),
                 duration((base.get("cpu") or {}).get("median")),
                 _bytes((base.get("memory") or {}).get("peakMax")), "", ""))
    for v in report.get("variants") or []:
        if v.get("status") != "ok":
            err = v.get("error") or {}
            where = f" (line {err['line']})" if err.get("line") else ""
            rows.append((str(v.get("name")), str(v.get("status")), "", "", "", "", "",
                         f"{err.get('type')}: {err.get('message')}{where}", ""))
            continue
        comparison = v.get("comparison") or {}
        ratio, ci = comparison.get("ratio"), comparison.get("ci") or [None, None]
        versus = ""
        if ratio is not None:
            versus = f"{ratio:.3f}x"
            if ci[0] is not None and ci[1] is not None:
                versus += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
            if comparison.get("p") is not None:
                versus += f" p={comparison['p']:.2g}"
        diffs = len(v.get("differences") or [])
        correct = "yes" if v.get("correct") else f"NO ({diffs} differ)"
        word = str(v.get("verdict") or comparison.get("verdict", ""))
        if word in ("incorrect", "raises"):
            word += f" (timing: {comparison.get('verdict', '?')})"
        if v.get("winner"):
            word += " — winner"
        rows.append((str(v.get("name")), "ok", correct,
                     duration((v.get("wall") or {}).get("median")),
                     duration((v.get("wall") or {}).get("iqr")),
                     duration((v.get("cpu") or {}).get("median")),
                     _bytes((v.get("memory") or {}).get("peakMax")), versus, word))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for v in report.get("variants") or []:
        for d in (v.get("differences") or [])[:differences]:
            lines.append(f"  {v.get('name')} differs on input {d.get('input')}: baseline "
                         f"{_outcome(d.get('baseline') or {})}; {v.get('name')} "
                         f"{_outcome(d.get('variant') or {})}")
        more = len(v.get("differences") or []) - differences
        if more > 0:
            lines.append(f"  … and {more} more differences of {v.get('name')}")
    for spy in report.get("spies") or []:
        lines.append(f"  spy {spy.get('target')}: {spy.get('count')} calls")
    rec = report.get("recommendation") or {}
    if rec:
        lines.append(f"Recommendation: {rec.get('reason')}")
    return "\n".join(lines) + "\n"


def _bytes(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
