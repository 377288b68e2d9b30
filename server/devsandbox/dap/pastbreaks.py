"""Breakpoints over the recording: where continue and reverseContinue stop in the past.

The session keeps the client's breakpoints (line breakpoints with conditions,
hit conditions and log messages; exception filters; function breakpoints;
data breakpoints) and `find_stop` looks for the nearest step, forwards or
backwards from a point of the recording, where one of them stops:

- a line breakpoint stops at a line event of its line whose condition holds
  (evaluated over the recorded values) and whose hit condition holds for the
  number of times the line ran from the start of the recording; a logpoint
  prints its message (in the order of the recording) and does not stop;
- exception filters "raised" (every raise) and "uncaught"/"userUnhandled"
  (the exception that ended the program) stop where the exception was raised;
- function breakpoints stop at the first line of a call of the function;
- data breakpoints stop where a watched value changes: going forwards at the
  step that first shows the new value, going backwards at the line that made
  the change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequest
from ..recording import evaluate as ev
from ..recording import history, navigate
from ..recording.chunks import line_key
from ..recording.timeline import Timeline
from . import replay


def norm(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


@dataclass
class LineBreakpoint:
    id: int
    path: str
    line: int
    condition: str | None = None
    hit_condition: str | None = None
    log_message: str | None = None


@dataclass
class DataBreakpoint:
    data_id: str
    tid: int
    fid: int
    expression: str
    description: str
    condition: str | None = None


@dataclass
class Stop:
    tid: int
    step: int
    reason: str  # DAP stopped reason
    description: str
    hit_ids: list[int] = field(default_factory=list)
    text: str | None = None


@dataclass
class Breakpoints:
    lines: dict[str, list[LineBreakpoint]] = field(default_factory=dict)
    filters: set[str] = field(default_factory=set)
    functions: list[dict[str, Any]] = field(default_factory=list)
    data: list[DataBreakpoint] = field(default_factory=list)
    next_id: int = replay.FIRST_ID

    def set_lines(self, args: dict[str, Any]) -> list[LineBreakpoint]:
        path = (args.get("source") or {}).get("path")
        if not isinstance(path, str):
            raise InvalidRequest("setBreakpoints needs a source with a path.")
        out = []
        for bp in args.get("breakpoints") or []:
            self.next_id += 1
            out.append(LineBreakpoint(self.next_id, path, int(bp.get("line") or 0),
                                      bp.get("condition") or None,
                                      bp.get("hitCondition") or None,
                                      bp.get("logMessage") or None))
        self.lines[norm(path)] = out
        return out

    def any(self) -> bool:
        return bool(any(self.lines.values()) or self.filters or self.functions or self.data)


def line_response(tl: Timeline, bps: list[LineBreakpoint]) -> list[dict[str, Any]]:
    """Breakpoints verified where the recording has executions of their line."""
    keys = line_keys(tl, bps)
    ran = {k & 0xFFFFFF for k in keys if any(k in c for s in tl.summaries()
                                             for c in s.lines.values())}
    out = []
    for bp in bps:
        entry: dict[str, Any] = {"id": bp.id, "line": bp.line, "verified": bp.line in ran}
        if bp.line not in ran:
            entry["message"] = "This line never ran in the recording."
        out.append(entry)
    return out


def line_keys(tl: Timeline, bps: list[LineBreakpoint]) -> dict[int, list[LineBreakpoint]]:
    by_path: dict[str, list[LineBreakpoint]] = {}
    for bp in bps:
        by_path.setdefault(norm(bp.path), []).append(bp)
    keys: dict[int, list[LineBreakpoint]] = {}
    for code_id, code in enumerate(tl.rec.codes):
        if code is None:
            continue
        wanted = by_path.get(norm(code.file))
        for bp in wanted or ():
            keys.setdefault(line_key(code_id, bp.line), []).append(bp)
    return keys


def _hit_ok(hit_condition: str | None, hits: int) -> bool:
    if not hit_condition:
        return True
    text = hit_condition.strip()
    m = re.fullmatch(r"(==|!=|>=|<=|>|<|%)?\s*(\d+)", text)
    if not m:
        return True
    op, n = m.group(1) or "==", int(m.group(2))
    return {"==": hits == n, "!=": hits != n, ">=": hits >= n, "<=": hits <= n,
            ">": hits > n, "<": hits < n, "%": n > 0 and hits % n == 0}[op]


def _interpolate(message: str, lookup: ev.Lookup) -> str:
    def sub(m: re.Match[str]) -> str:
        try:
            return str(ev.evaluate(m.group(1), lookup))
        except ev.EvalError as exc:
            return f"<error: {exc}>"
    return re.sub(r"\{([^{}]+)\}", sub, message)


class _Judge:
    """Decides whether a candidate step stops (conditions, hit counts, logpoints)."""

    def __init__(self, tl: Timeline, breaks: Breakpoints, output: Callable[[str], None]) -> None:
        self.tl = tl
        self.keys = line_keys(tl, [bp for bps in breaks.lines.values() for bp in bps])
        self.codes = {cid for cid, code in enumerate(tl.rec.codes) if code is not None and any(
            code.qualname == f.get("name") or code.name == f.get("name") for f in breaks.functions)}
        self.output = output
        self.stop: Stop | None = None

    def finder(self, filters: set[str]) -> navigate.Finder:
        finders = []
        if self.keys:
            finders.append(navigate.line_finder(self.tl, set(self.keys)))
        if "raised" in filters:
            finders.append(navigate.exception_finder(self.tl))
        if self.codes:
            finders.append(navigate.call_finder(self.tl, self.codes))
        if filters & {"uncaught", "userUnhandled"}:
            where = navigate.uncaught(self.tl)
            if where is not None:
                w_ci, w_order = self.tl.when(*where)
                finders.append(lambda ci, forward=None: [(w_order, where[0], where[1], "uncaught")]
                               if ci == w_ci else [])
        return navigate.merged(finders)

    def accept(self, cand: navigate.Candidate) -> bool:
        _order, tid, step, what = cand
        tl = self.tl
        if what in ("exception", "uncaught"):
            found = tl.event_value(tid, step)
            text, _cut, etype = found or ("", False, None)
            label = "Uncaught exception" if what == "uncaught" else "Exception"
            self.stop = Stop(tid, step, "exception", f"{label} {etype}: step {step:,}", [], text)
            return True
        frames = tl.stack(tid, step)
        lookup = replay.moment_lookup(tl, tid, step, frames[0], frames)
        if what == "function":
            self.stop = Stop(tid, step, "function breakpoint",
                             f"Function breakpoint: step {step:,}")
            return True
        st = tl.step(tid, step)
        key = line_key(st.code_id, st.line)
        ci, order = tl.when(tid, step)
        hits = None
        for bp in self.keys.get(key, []):
            if bp.condition:
                try:
                    if not ev.evaluate(bp.condition, lookup):
                        continue
                except ev.EvalError as exc:
                    self.output(f"Breakpoint condition {bp.condition!r} at step {step:,}: {exc}\n")
            if bp.hit_condition:
                hits = navigate.hits_before(tl, key, ci, order) if hits is None else hits
                if not _hit_ok(bp.hit_condition, hits):
                    continue
            if bp.log_message:
                self.output(_interpolate(bp.log_message, lookup) + "\n")
                continue
            self.stop = Stop(tid, step, "breakpoint", f"Breakpoint: step {step:,}", [bp.id])
            return True
        return False


def find_stop(tl: Timeline, breaks: Breakpoints, tid: int, step: int, forward: bool,
              output: Callable[[str], None]) -> Stop | None:
    """The nearest stop after (before) the step of thread `tid`, or None."""
    messages: list[str] = []
    judge = _Judge(tl, breaks, messages.append)
    start = tl.when(tid, step)
    best: Stop | None = None
    best_when: tuple[int, int] | None = None
    if judge.keys or judge.codes or breaks.filters:
        navigate.search(tl, start, forward, judge.finder(breaks.filters), judge.accept)
        if judge.stop is not None:
            best = judge.stop
            best_when = tl.when(best.tid, best.step)
    for data in breaks.data:
        stop = data_stop(tl, data, tid, step, forward)
        if stop is None:
            continue
        when = tl.when(stop.tid, stop.step)
        if best_when is None or (when < best_when if forward else when > best_when):
            best, best_when = stop, when
    for text in (messages if forward else reversed(messages)):
        output(text)
    return best


MAX_DATA_CANDIDATES = 10_000  # changes tried against a data breakpoint's condition


def data_stop(tl: Timeline, data: DataBreakpoint, tid: int, step: int,
              forward: bool) -> Stop | None:
    """The nearest change of a data breakpoint's value (whose condition holds, if it has
    one): forwards where the new value is first seen, backwards at the line that made it."""
    watch = history.Watch(data.expression, data.tid, fids=frozenset({data.fid}))
    at = step if data.tid == tid else tl.last_step_before(data.tid, tl.when(tid, step))
    if at is None:
        return None
    changes = ((c, c.step) for c in history.changes(tl, watch, at)) if forward else \
        _changes_back(tl, watch, at)
    for tried, (change, where) in enumerate(changes):
        if tried >= MAX_DATA_CANDIDATES:
            return None
        if data.condition:
            frames = tl.stack(change.tid, where)
            try:
                if not ev.evaluate(data.condition, replay.moment_lookup(
                        tl, change.tid, where, frames[0], frames)):
                    continue
            except ev.EvalError:
                pass  # stop, like a line breakpoint whose condition fails
        return Stop(change.tid, where, "data breakpoint",
                    f"Data breakpoint: {data.expression} changed from {change.old} to "
                    f"{change.new} (step {where:,})", [], f"{change.old} → {change.new}")
    return None


def _changes_back(tl: Timeline, watch: history.Watch, at: int) -> Iterator[
        tuple[history.Change, int]]:
    """Changes before `at`, newest first, with the step of the line that made each."""
    before = at
    while before >= tl.first_step(watch.tid):
        change = history.last_change(tl, watch, before)
        if change is None:
            return
        where = history.writer_step(tl, change.tid, change.step, change.fid)
        if where < at:
            yield change, where
        before = change.step - 1
