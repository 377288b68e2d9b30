"""Questions about the recording: goto targets, data breakpoints, last writer,
value history and the call timeline (handlers of `timetravel.TimeTravel`).

    devsandbox/lastWrite     {expression | name, frameId?, goto?}
        -> {found, step, line, file, function, threadId, old, new, seenAt, byDebugger?}
    devsandbox/valueHistory  {expression, frameId?, scope: frame|function|recording, limit?}
        -> {changes: [{step, line, file, function, threadId, value}], distinct:
            [{value, count, firstStep, lastStep}], truncated}
    devsandbox/timeline      {threadId?, start?, count?, maxDepth?}
        -> {calls: [{id, function, file, line, depth, startStep, endStep,
            startUs?, durationUs?, exception?}], total, marks: [{afterStep, kind, text}]}
            (startUs: µs since the recording began, durationUs: until its return, in
            recordings with timings (format 1.2); marks: what the debugger did while the
            program was paused: setVariable, goto ...)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from devsandbox.recorder.format import E

from ..errors import CannotHandle, InvalidRequest
from ..recording import evaluate as ev
from ..recording import globalvals, history, navigate
from ..recording.timeline import Timeline
from ..wire.channel import Message
from . import pastbreaks, replay

if TYPE_CHECKING:
    from .timetravel import TimeTravel

GOTO_LIMIT = 1000
HISTORY_LIMIT = 1000
SUMMARY_CHARS = 60


def _args(request: Message) -> dict[str, Any]:
    args = request.get("arguments") or {}
    if not isinstance(args, dict):
        raise InvalidRequest("arguments must be an object")
    return args


async def view(tt: TimeTravel, args: dict[str, Any]) -> tuple[replay.Position, int, int, Any, Any]:
    """(position, thread, step, frame, frames) a question is about: args.frameId, or the top
    frame of the focus.  A live session answers from the recording at the live point without
    entering the past (a frameId is then debugpy's: the frame at the same depth)."""
    pos = tt.pos
    if pos is None:
        if tt.live is None:
            pos = await tt.enter({"arguments": args})  # raises: no recording
        else:
            return await tt.live.view(args)
    if args.get("frameId") is not None:
        tid, step, _index, frame, frames = replay.frame_of(pos, args["frameId"])
        return pos, tid, step, frame, frames
    tid = pos.rec_thread(args.get("threadId")) if args.get("threadId") is not None else pos.tid
    step = pos.step_of(tid)
    if step is None:
        raise InvalidRequest("That thread has not started at this point of the recording.")
    frames = pos.tl.stack(tid, step)
    return pos, tid, step, frames[0], frames


def _summary(tl: Timeline, tid: int, step: int) -> str:
    frame = tl.stack(tid, step)[0]
    parts = []
    for name, text in frame.locals().items():
        if name.startswith("__"):
            continue
        parts.append(f"{name}={text if len(text) < 24 else text[:20] + '…'}")
    out = ", ".join(parts)
    return out if len(out) <= SUMMARY_CHARS else out[:SUMMARY_CHARS - 1] + "…"


# ---- goto targets -------------------------------------------------------------------------

async def goto_targets(tt: TimeTravel, request: Message) -> Any:
    args = _args(request)
    path = (args.get("source") or {}).get("path")
    line = args.get("line")
    if not isinstance(path, str) or not isinstance(line, int):
        raise InvalidRequest("gotoTargets needs a source path and a line.")
    live_targets: list[dict[str, Any]] = []
    if tt.pos is None:
        if tt.live is None:
            tt.session.forward(request)
            from .starting import NO_RESPONSE
            return NO_RESPONSE
        live_targets = await tt.live.goto_targets(request)
        pos = await tt.live.peek()
        if pos is None:
            return {"targets": live_targets}
    else:
        pos = tt.pos
    tl = pos.tl
    keys = set(pastbreaks.line_keys(tl, [pastbreaks.LineBreakpoint(0, path, line)]))
    targets = list(live_targets)
    # the GOTO_LIMIT executions nearest the current step; the others are a goto away: an
    # entry on each side jumps to the nearest left out, where gotoTargets lists the next ones
    earlier, listed, later, prev, nxt = navigate.executions_near(
        tl, keys, tl.when(pos.tid, pos.step), GOTO_LIMIT)
    several = len(tl.thread_ids()) > 1

    def label(tid: int, step: int) -> str:
        return f"step {step:,}" + (f" ({tl.thread_name(tid)})" if several else "")

    if prev is not None:
        targets.append({"id": pos.refs.add(("target", prev[1], prev[2])), "line": line,
                        "label": f"… and {earlier:,} earlier executions: goto the latest of "
                                 f"them ({label(prev[1], prev[2])}), then gotoTargets again"})
    for _order, tid, step, _what in listed:
        summary = _summary(tl, tid, step)
        targets.append({"id": pos.refs.add(("target", tid, step)), "line": line,
                        "label": f"{label(tid, step)}: {summary}" if summary
                        else label(tid, step)})
    if nxt is not None:
        targets.append({"id": pos.refs.add(("target", nxt[1], nxt[2])), "line": line,
                        "label": f"… and {later:,} later executions: goto the first of "
                                 f"them ({label(nxt[1], nxt[2])}), then gotoTargets again"})
    return {"targets": targets}


# ---- data breakpoints ------------------------------------------------------------------------

async def on_dataBreakpointInfo(tt: TimeTravel, request: Message) -> Any:
    args = _args(request)
    name = args.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("dataBreakpointInfo needs a name.")
    pos = tt.pos
    ref = args.get("variablesReference")
    if pos is None:
        return {"dataId": None, "description": "Data breakpoints work in the recording: step "
                "back first (launch with devsandbox.record)."}
    payload = pos.refs.table.get(ref) if isinstance(ref, int) else None
    if payload is not None and payload[0] in ("locals", "globals"):
        _kind, tid, step, index = payload
        frames = pos.tl.stack(tid, step)
        frame = frames[index] if payload[0] == "locals" else replay.module_frame(
            frames, frames[index])
        expression = name
    elif payload is not None and payload[0] == "node" and payload[1].path and payload[1].ctx:
        node = payload[1]
        tid, step, index = node.ctx
        frame = pos.tl.stack(tid, step)[index]
        expression = f"{node.path}{_child_suffix(name)}"
    elif ref in (None, 0) and args.get("frameId") is not None:
        tid, step, _index, frame, _frames = replay.frame_of(pos, args["frameId"])
        expression = name
    else:
        return {"dataId": None, "description": f"No data breakpoint for {name} here."}
    if frame is None:
        return {"dataId": None, "description": "No module frame in the recording."}
    qual = frame.code.qualname
    data_id = f"devsandbox:{tid}:{frame.fid}:{expression}"
    return {"dataId": data_id, "description": f"{expression} in {qual} (frame {frame.fid})",
            "accessTypes": ["write"], "canPersist": False}


def _child_suffix(name: str) -> str:
    if name.startswith("["):
        return name
    if name.startswith("<"):
        raise InvalidRequest("Items of a set cannot be watched.")
    return f"[{name}]" if not name.isidentifier() else f".{name}"


async def on_setDataBreakpoints(tt: TimeTravel, request: Message) -> Any:
    args = _args(request)
    out, data = [], []
    for bp in args.get("breakpoints") or []:
        data_id = bp.get("dataId")
        parts = data_id.split(":", 3) if isinstance(data_id, str) else []
        if len(parts) != 4 or parts[0] != "devsandbox":
            out.append({"verified": False, "message": f"Unknown dataId {data_id!r}."})
            continue
        tid, fid, expression = int(parts[1]), int(parts[2]), parts[3]
        data.append(pastbreaks.DataBreakpoint(data_id, tid, fid, expression, expression,
                                              bp.get("condition")))
        out.append({"verified": True, "description": expression})
    tt.breaks.data = data
    return {"breakpoints": out}


# ---- last write ------------------------------------------------------------------------------

def _expression(args: dict[str, Any]) -> str:
    expression = args.get("expression", args.get("name"))
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidRequest("Give the 'expression' (or 'name') to look for.")
    return expression.strip()


async def on_lastWrite(tt: TimeTravel, request: Message) -> Any:
    args = _args(request)
    expression = _expression(args)
    pos, tid, step, frame, frames = await view(tt, args)
    tl = pos.tl
    try:
        current = ev.show(ev.evaluate(expression, replay.moment_lookup(tl, tid, step, frame,
                                                                       frames)))
    except ev.EvalError as exc:
        raise InvalidRequest(f"Cannot follow {expression} in the recording: {exc}") from None
    names = history.names_in(expression)
    if names and all(frame.span_of(n) is None for n in names) and \
            len(globalvals.recorded_by_functions(tl, names)) == len(names):
        # module globals (rebound in functions): the last write in any frame of the module
        found = _global_last_write(tl, tid, step, frame.code.file, expression, names)
        if found is None:
            return {"found": False, "expression": expression, "value": current,
                    "message": f"{expression} kept its value since the recording began."}
        change, wtid = found
    else:
        fid = frame.fid
        if names and all(frame.span_of(n) is None for n in names):  # globals of the module frame
            module = next((f for f in reversed(frames) if f.code.qualname == "<module>"
                           and f.code.file == frame.code.file), None)
            fid = module.fid if module is not None else fid
        watch = history.Watch(expression, tid, fids=frozenset({fid}))
        change, wtid = history.last_change(tl, watch, step), tid
        if change is None:
            return {"found": False, "expression": expression, "value": current,
                    "message": f"{expression} kept its value since the recording of "
                               f"{frame.code.qualname} began."}
    tid = wtid
    writer = history.writer_step(tl, tid, change.step, change.fid)
    st = tl.step(tid, writer)
    code = tl.code(st.code_id)
    body = {"found": True, "expression": expression, "threadId": pos.dap_thread(tid),
            "step": writer, "line": st.line, "file": code.file, "function": code.qualname,
            "old": change.old, "new": change.new, "seenAt": change.step, "value": current}
    mark = _debugger_mark(tl, tid, writer, change.step)
    if mark is not None:  # the debugger changed it (setVariable, setExpression, goto ...)
        body["byDebugger"] = {"kind": mark[2], "text": mark[3], "afterStep": mark[1]}
    if args.get("goto") and tt.pos is not None:
        tt._respond_then(lambda: tt.stop_at(
            tid, writer, "step", f"Last write of {expression}: step {writer:,} of "
            f"{tl.step_count(tid):,}"))
    return body


def _global_last_write(tl: Timeline, tid: int, step: int, file: str, expression: str,
                       names: list[str]) -> tuple[history.Change, int] | None:
    """The last change of an expression over module globals that functions record
    (``global:NAME``) at or before `step`: the latest write of any of its names, in any
    thread, after which its value differs from the value before it."""

    def value_at(t: int, s: int) -> str | None:
        if s < tl.first_step(t):
            return None
        vals = globalvals.texts(tl, t, s, file, names)

        def lookup(name: str) -> Any:
            if name not in vals:
                raise KeyError(name)
            return ev.from_repr(vals[name], False, name)

        try:
            return ev.show(ev.evaluate(expression, lookup))
        except ev.EvalError:
            return None

    t, s = tid, step
    for _ in range(1000):  # keyframes restate values: a write may be a copy of the same value
        found = globalvals.fresh(tl, t, s, file, names)
        if not found:
            return None
        where = max(found.values(), key=lambda w: tl.when(w.tid, w.step))
        new, old = value_at(where.tid, where.step), value_at(where.tid, where.step - 1)
        if new != old:
            code = tl.step(where.tid, where.step).code_id
            return history.Change(where.tid, where.step, where.fid, code, old, new), where.tid
        if where.step <= tl.first_step(where.tid):
            return None
        t, s = where.tid, where.step - 1
    return None


def marks_of(tl: Timeline, tid: int, chunk_ids: list[int] | None = None) -> list[tuple[int, int, str, str]]:
    """The recorder's explicit events of a thread: (thread, after step, kind, text)."""
    out = []
    for ci in chunk_ids if chunk_ids is not None else tl.chunks_of(tid):
        out.extend(m for m in tl.summary(ci).marks if m[0] == tid)
    return out


def _debugger_mark(tl: Timeline, tid: int, writer: int, seen: int) -> tuple[int, int, str, str] | None:
    """A mark (the debugger changed the program) between the writer step and the change."""
    chunk_ids = tl.chunks_of(tid)
    ci = chunk_ids.index(tl.locate(tid, seen)[0])
    for mark in reversed(marks_of(tl, tid, chunk_ids[max(0, ci - 1):ci + 1])):
        if writer <= mark[1] < seen:
            return mark
    return None


# ---- value history ---------------------------------------------------------------------------

async def on_valueHistory(tt: TimeTravel, request: Message) -> Any:
    args = _args(request)
    expression = _expression(args)
    pos, tid, _step, frame, _frames = await view(tt, args)
    tl = pos.tl
    scope = args.get("scope") or ("frame" if args.get("frameId") is not None else "function")
    limit = int(args.get("limit") or HISTORY_LIMIT)
    if scope == "frame":
        watches = [history.Watch(expression, tid, fids=frozenset({frame.fid}))]
    elif scope == "function":
        watches = [history.Watch(expression, t, codes=frozenset({frame.code_id}))
                   for t in tl.thread_ids()]
    elif scope == "recording":
        watches = [history.Watch(expression, t) for t in tl.thread_ids()]
    else:
        raise InvalidRequest("'scope' is one of frame, function, recording.")
    changes: list[dict[str, Any]] = []
    distinct: dict[Any, list[Any]] = {}  # value -> [count, first step, last step, thread]
    truncated = False
    for watch in watches:
        listed, more = history.tally(tl, watch, distinct, limit - len(changes))
        truncated = truncated or more
        for step, _fid, code_id, new, _old in listed:
            code = tl.code(code_id)
            changes.append({"step": step, "line": tl.step(watch.tid, step).line,
                            "file": code.file, "function": code.qualname,
                            "threadId": pos.dap_thread(watch.tid),
                            "value": history.text_of(new)})
    distinct_out = [{"value": history.text_of(value), "count": count, "firstStep": first,
                     "lastStep": last, "threadId": pos.dap_thread(tid)}
                    for value, (count, first, last, tid) in distinct.items()]
    return {"expression": expression, "scope": scope, "changes": changes,
            "distinct": distinct_out, "truncated": truncated}


# ---- timeline --------------------------------------------------------------------------------

def calls_of(tl: Timeline, tid: int) -> list[dict[str, Any]]:
    """Every recorded call of a thread, in order (pre-order of the call tree); with timings
    (format 1.2) a call has its start ("startUs") and, once it returned, "durationUs"."""
    return list(_calls(tl, tid))


def calls_page(tl: Timeline, tid: int, start: int, count: int,
               max_depth: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """The calls `start` to `start + count` of `calls_of` (only those at most `max_depth`
    deep), and how many there are: only the page and the open calls are kept."""
    page: list[dict[str, Any]] = []
    total = 0
    for node in _calls(tl, tid):
        if max_depth is not None and node["depth"] > max_depth:
            continue
        if start <= total < start + count:
            page.append(node)
        total += 1
    return page, total


def _calls(tl: Timeline, tid: int) -> Iterator[dict[str, Any]]:
    """calls_of's calls, each yielded when it starts (it is complete once the walk is
    over: its end, duration and exception are filled in as the walk goes on)."""
    stack: list[dict[str, Any]] = []
    timed = tl.timed
    for ci in tl.chunks_of(tid):
        ts = tl.scan(ci).threads[tid]
        times = tl.clock(ci, tid) if timed else {}
        marks = sorted(navigate.kind_hits(ts, E.CALL) + navigate.kind_hits(ts, E.RETURN)
                       + navigate.kind_hits(ts, E.EXCEPTION))
        for i in marks:
            kind = ts.kinds[i]
            if kind == E.CALL:
                code = tl.code(ts.codes[i])
                node = {"id": ts.first + i, "function": code.qualname, "file": code.file,
                        "line": ts.lines[i], "depth": ts.depths[i], "startStep": ts.first + i,
                        "endStep": None}
                if i in times:
                    node["startUs"] = times[i]
                stack.append(node)
                yield node
            elif kind == E.EXCEPTION:
                if stack and not navigate.propagated(tl, tid, ts.first + i):
                    stack[-1].setdefault("exception", {"step": ts.first + i})
            else:
                while stack and stack[-1]["depth"] > ts.depths[i]:
                    stack.pop()
                if stack and stack[-1]["depth"] == ts.depths[i]:
                    node = stack.pop()
                    node["endStep"] = ts.first + i
                    if i in times and "startUs" in node:
                        node["durationUs"] = times[i] - node["startUs"]


async def on_timeline(tt: TimeTravel, request: Message) -> Any:
    args = _args(request)
    pos, tid, _step, _frame, _frames = await view(tt, {k: v for k, v in args.items()
                                                        if k != "frameId"})
    tl = pos.tl
    max_depth = args.get("maxDepth")
    start = int(args.get("start") or 0)
    count = int(args.get("count") or 100)
    page, total = calls_page(tl, tid, start, count,
                             max_depth if isinstance(max_depth, int) else None)
    for c in page:
        exc = c.get("exception")
        if exc is not None:
            found = tl.event_value(tid, exc["step"])
            if found is not None:
                exc.update(type=found[2], value=found[0])
    marks = [{"afterStep": step, "kind": kind, "text": text}
             for _t, step, kind, text in marks_of(tl, tid)]
    return {"threadId": pos.dap_thread(tid), "calls": page, "total": total,
            "steps": tl.step_count(tid), "marks": marks}


# ---- recording control ------------------------------------------------------------------------

async def on_startRecording(tt: TimeTravel, request: Message) -> Any:
    if tt.replaying:
        raise CannotHandle("This session replays a recording: there is no program to record.")
    if tt.live is None:
        if tt.session.hub is None:
            raise CannotHandle("Recording needs the DevSandbox agent (a launched session).")
        from .livepast import LiveLink

        tt.live = LiveLink(tt, {})
    return await tt.live.start_recording(request)


async def on_stopRecording(tt: TimeTravel, request: Message) -> Any:
    if tt.live is None:
        raise CannotHandle("This session is not recording.")
    return await tt.live.stop_recording(request)


async def on_replayCall(tt: TimeTravel, request: Message) -> Any:
    from . import replaycall

    return await replaycall.handle(tt, request)
