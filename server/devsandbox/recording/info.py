"""Metadata and statistics of a recording (``devsandbox info``).

With timings (format 1.2), the calls of each function that returned give its p50 and p95
duration ("timings per function"; a generator's or coroutine's: each run from a start or
resume to its yield or return)."""

from __future__ import annotations

import collections
from typing import Any

from devsandbox.recorder import format as fmt

from .reader import Recording


def summarize(rec: Recording, top: int = 20) -> dict[str, Any]:
    per_file: collections.Counter[str] = collections.Counter()
    per_function: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    durations: dict[str, list[int]] = {}
    events = 0
    for ev in rec.events():
        events += 1
        kinds[ev.kind] += 1
        if ev.code is not None:
            per_file[ev.code.file] += 1
            where = f"{ev.code.qualname} ({ev.code.file}:{ev.code.firstlineno})"
            per_function[where] += 1
            if ev.duration_us is not None:
                durations.setdefault(where, []).append(ev.duration_us)
    chunks = [f for f in rec.frames if f.kind == fmt.K.EVENTS]
    raw = sum(f.raw for f in chunks)
    stored = sum(f.stored for f in chunks)
    start = rec.meta.get("start_time")
    end_time = rec.end.get("time")
    return {
        "file": rec.path,
        "format": f"{fmt.FORMAT_MAJOR}.{rec.minor}",
        "program": rec.meta.get("program"),
        "argv": rec.meta.get("argv"),
        "python": rec.meta.get("python"),
        "backend": rec.meta.get("backend"),
        "mode": rec.meta.get("mode"),
        "scope": rec.meta.get("scope"),
        "start_time": start,
        "duration_seconds": (end_time - start) if start and end_time else None,
        "end": rec.end,
        "complete": rec.complete,
        "size_bytes": rec.size,
        "events": events,
        "kinds": dict(kinds),
        "threads": {tid: t.name for tid, t in rec.threads.items()},
        "chunks": len(chunks),
        "event_bytes_raw": raw,
        "event_bytes_compressed": stored,
        "bytes_per_event": (rec.size / events) if events else None,
        "compressed_bytes_per_event": (stored / events) if events else None,
        "events_per_file": dict(per_file.most_common(top)),
        "events_per_function": dict(per_function.most_common(top)),
        "timed": bool(rec.meta.get("clock")),
        "timings_per_function": _timings(durations, top),
    }


def percentile(ordered: list[int], p: float) -> int:
    """The value at percentile `p` of a sorted, non-empty list (nearest rank)."""
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _timings(durations: dict[str, list[int]], top: int) -> dict[str, dict[str, Any]]:
    """The functions with the most timed calls: calls, p50, p95 and max in ms."""
    out = {}
    for where, values in sorted(durations.items(), key=lambda kv: -len(kv[1]))[:top]:
        values.sort()
        out[where] = {"calls": len(values), "p50_ms": percentile(values, 50) / 1000,
                      "p95_ms": percentile(values, 95) / 1000, "max_ms": values[-1] / 1000}
    return out


def format_text(info: dict[str, Any]) -> str:
    lines = [
        f"recording   {info['file']}",
        f"format      {info['format']}  backend {info['backend']} ({info['mode']})",
        f"program     {info['program']}  argv {info['argv']}",
        f"python      {(info['python'] or '').splitlines()[0] if info['python'] else '?'}",
        f"end         {info['end'].get('reason')}"
        + (f", exit code {info['end'].get('exit_code')}" if 'exit_code' in info['end'] else "")
        + ("" if info["complete"] else "  (incomplete: read up to the last whole frame)"),
    ]
    if info["duration_seconds"] is not None:
        lines.append(f"duration    {info['duration_seconds']:.3f} s")
    lines.append(f"size        {info['size_bytes']} bytes in {info['chunks']} chunks "
                 f"({info['event_bytes_raw']} raw event bytes, "
                 f"{info['event_bytes_compressed']} compressed)")
    lines.append(f"events      {info['events']}  {info['kinds']}")
    if info["events"]:
        lines.append(f"bytes/event {info['bytes_per_event']:.2f} (file), "
                     f"{info['compressed_bytes_per_event']:.2f} (compressed events)")
    lines.append(f"threads     {info['threads']}")
    lines.append("events per file:")
    lines += [f"  {n:>10}  {f}" for f, n in info["events_per_file"].items()]
    lines.append("events per function:")
    lines += [f"  {n:>10}  {f}" for f, n in info["events_per_function"].items()]
    if info.get("timings_per_function"):
        lines.append("timings per function (calls that returned):")
        lines.append(f"  {'calls':>10}  {'p50 ms':>10}  {'p95 ms':>10}  {'max ms':>10}  function")
        lines += [f"  {t['calls']:>10}  {t['p50_ms']:>10.3f}  {t['p95_ms']:>10.3f}  "
                  f"{t['max_ms']:>10.3f}  {f}" for f, t in info["timings_per_function"].items()]
    elif not info.get("timed"):
        lines.append("timings     none (recorded without call times: format before 1.2, "
                     "or timings off)")
    return "\n".join(lines)
