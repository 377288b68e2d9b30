"""Answering inspection requests from a recording while positioned in the past.

threads, stackTrace, scopes, variables, evaluate, exceptionInfo and source
are answered from the `Timeline` at the current position, never by debugpy.

Ids: frame ids, variablesReference values and goto target ids handed out here
start at `FIRST_ID` (1,000,000,000) and stay below 2**31; debugpy's are small
sequential numbers, so the two never collide.  They are valid until the next
move (as in any debugger: a new stop, new ids).

Values are shown exactly as recorded (their repr when they were recorded);
containers expand from their encoding, objects recorded with their attributes
(format 1.3) into those, keyword-style reprs (dataclasses, namedtuples) into
their fields.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from typing import Any

from devsandbox.recorder.format import E, V, decode_value, object_attributes, read_varint

from ..errors import InvalidRequest
from ..recording import evaluate as ev
from ..recording import globalvals
from ..recording.timeline import FrameState, Timeline

FIRST_ID = 1_000_000_000
LAST_ID = 2**31 - 1
MAX_CHILDREN = 1000


class Refs:
    """Ids of frames, variable containers and goto targets, reset at each move."""

    def __init__(self) -> None:
        self.next = FIRST_ID
        self.table: dict[int, Any] = {}

    def add(self, payload: Any) -> int:
        if self.next >= LAST_ID:
            self.next = FIRST_ID
        ref = self.next
        self.next += 1
        self.table[ref] = payload
        return ref

    def get(self, ref: Any, what: str) -> Any:
        payload = self.table.get(ref) if isinstance(ref, int) else None
        if payload is None:
            raise InvalidRequest(f"Unknown {what} {ref!r} (ids are valid until the next step).")
        return payload

    def reset(self) -> None:
        self.table.clear()


# ---- values as trees --------------------------------------------------------------------

@dataclass
class Node:
    """A value to show: its text, its type name, and how to list its children."""

    text: str
    type: str
    buf: bytes | None = None  # encoded container: children decoded from here
    pos: int = 0
    value: Any = None  # a Python value (from evaluate or a parsed repr)
    expandable: bool = False
    path: str | None = None  # an expression for it (evaluateName), when known
    ctx: tuple[int, int, int] | None = None  # (thread, step, frame index) it belongs to


_TYPE_NAMES = {V.NONE: "NoneType", V.TRUE: "bool", V.FALSE: "bool", V.INT: "int",
               V.BIGINT: "int", V.FLOAT: "float", V.STR: "str", V.STR_TRUNC: "str",
               V.BYTES: "bytes", V.BYTES_TRUNC: "bytes", V.COMPLEX: "complex", V.LIST: "list",
               V.TUPLE: "tuple", V.SET: "set", V.FROZENSET: "frozenset", V.DICT: "dict"}


def encoded_node(buf: bytes, span: tuple[int, int]) -> Node:
    pos = span[0]
    tag = buf[pos]
    text, _cut, _ = decode_value(buf, pos)
    if V.LIST <= tag <= V.DICT:
        shown, _ = read_varint(buf, read_varint(buf, pos + 1)[1])
        return Node(text, _TYPE_NAMES[tag], buf, pos, expandable=shown > 0)
    if tag in (V.REPR, V.REPR_TRUNC, V.REPR_ERROR, V.REPR_SLOW, V.FMT):
        value = ev.from_repr(text, tag not in (V.REPR, V.FMT))
        fields = isinstance(value, ev.Opaque) and bool(value.fields)
        return Node(text, ev.type_name(value), value=value, expandable=fields)
    if tag == V.OBJECT:  # expands into its recorded attributes (_encoded_children)
        n, at = read_varint(buf, pos + 1)
        total, _ = read_varint(buf, at + n)
        return Node(text, ev.type_name(ev.from_repr(text)), buf, pos, expandable=total > 0)
    if tag == V.DEEP:
        return Node(text, _TYPE_NAMES.get(buf[pos + 1], "object"))
    return Node(text, _TYPE_NAMES.get(tag, "object"))


def value_node(value: Any) -> Node:
    text = ev.show(value)
    if isinstance(value, ev.Opaque):
        return Node(text, ev.type_name(value), value=value, expandable=bool(value.fields))
    expandable = isinstance(value, (list, tuple, dict, set, frozenset)) and len(value) > 0
    return Node(text, ev.type_name(value), value=value, expandable=expandable)


def children(node: Node) -> list[tuple[str, Node]]:
    out = _children(node)
    for name, child in out:
        child.ctx = node.ctx
        if node.path and name != "…" and not name.startswith("<"):
            child.path = node.path + (name if name.startswith("[") else
                                      f".{name}" if name.isidentifier() else f"[{name}]")
    return out


def _children(node: Node) -> list[tuple[str, Node]]:
    if node.buf is not None:
        return _encoded_children(node.buf, node.pos)
    value = node.value
    if isinstance(value, ev.Opaque):
        return [(k, value_node(v)) for k, v in (value.fields or {}).items()]
    if isinstance(value, dict):
        return [(repr(k), value_node(v)) for k, v in list(value.items())[:MAX_CHILDREN]]
    if isinstance(value, (list, tuple)):
        return [(f"[{i}]", value_node(v)) for i, v in enumerate(value[:MAX_CHILDREN])]
    if isinstance(value, (set, frozenset)):
        return [(f"<{i}>", value_node(v)) for i, v in enumerate(list(value)[:MAX_CHILDREN])]
    return []


def _encoded_children(buf: bytes, pos: int) -> list[tuple[str, Node]]:
    tag = buf[pos]
    if tag == V.OBJECT:  # its recorded attributes
        total, attrs = object_attributes(buf, pos)
        out = [(name, encoded_node(buf, (start, end))) for name, start, end in attrs]
        if total > len(attrs):
            out.append(("…", Node(f"{total - len(attrs)} more attributes were not recorded",
                                  "truncated")))
        return out
    total, pos = read_varint(buf, pos + 1)
    shown, pos = read_varint(buf, pos)
    out: list[tuple[str, Node]] = []
    for i in range(shown):
        start = pos
        _t, _c, pos = decode_value(buf, pos)
        if tag == V.DICT:
            key_text = _t
            vstart = pos
            _t, _c, pos = decode_value(buf, pos)
            out.append((key_text, encoded_node(buf, (vstart, pos))))
        elif tag in (V.SET, V.FROZENSET):
            out.append((f"<{i}>", encoded_node(buf, (start, pos))))
        else:
            out.append((f"[{i}]", encoded_node(buf, (start, pos))))
    if shown < total:
        out.append(("…", Node(f"{total - shown} more items were not recorded", "truncated")))
    return out


# ---- the state while in the past --------------------------------------------------------

class Position:
    """Where the session is in the recording, and the ids handed out for it."""

    def __init__(self, tl: Timeline, tid: int, step: int) -> None:
        self.tl = tl
        self.tid = tid
        self.step = step
        self.refs = Refs()
        self.thread_ids: dict[int, int] = {t: t for t in tl.thread_ids()}
        """recording thread -> DAP thread id (the same in replay; debugpy's when live)."""

    def move(self, tid: int, step: int) -> None:
        self.tid, self.step = tid, step
        self.refs.reset()

    def dap_thread(self, tid: int) -> int:
        return self.thread_ids.get(tid, tid)

    def rec_thread(self, dap_tid: Any) -> int:
        for tid, d in self.thread_ids.items():
            if d == dap_tid:
                return tid
        if dap_tid is None:
            return self.tid
        raise InvalidRequest(f"Unknown thread {dap_tid!r} in the recording.")

    def step_of(self, tid: int) -> int | None:
        """The thread's step at the current moment (the focused thread's own step;
        other threads at their last step before it)."""
        if tid == self.tid:
            return self.step
        return self.tl.last_step_before(tid, self.tl.when(self.tid, self.step))

    def description(self, verb: str) -> str:
        total = self.tl.step_count(self.tid)
        return f"{verb}: step {self.step:,} of {total:,}"


# ---- handlers' bodies ---------------------------------------------------------------------

def threads(pos: Position) -> dict[str, Any]:
    out = []
    for tid in pos.tl.thread_ids():
        if pos.step_of(tid) is None:
            continue  # not started yet at this moment
        out.append({"id": pos.dap_thread(tid), "name": pos.tl.thread_name(tid)})
    return {"threads": out}


def _frame_name(frame: FrameState) -> str:
    return frame.code.qualname or frame.code.name


def source_of(path: str) -> dict[str, Any]:
    return {"name": os.path.basename(path), "path": path}


def stack_trace(pos: Position, args: dict[str, Any]) -> dict[str, Any]:
    tid = pos.rec_thread(args.get("threadId"))
    step = pos.step_of(tid)
    if step is None:
        return {"stackFrames": [], "totalFrames": 0}
    frames = pos.tl.stack(tid, step)
    start = int(args.get("startFrame") or 0)
    levels = int(args.get("levels") or 0) or len(frames)
    out = []
    for index in range(start, min(len(frames), start + levels)):
        f = frames[index]
        ref = pos.refs.add(("frame", tid, step, index))
        out.append({"id": ref, "name": _frame_name(f), "line": f.line, "column": 1,
                    "source": source_of(f.code.file),
                    "presentationHint": "normal"})
    return {"stackFrames": out, "totalFrames": len(frames)}


def frame_of(pos: Position, frame_id: Any) -> tuple[int, int, int, FrameState, list[FrameState]]:
    _kind, tid, step, index = pos.refs.get(frame_id, "frame")
    frames = pos.tl.stack(tid, step)
    return tid, step, index, frames[index], frames


def module_frame(frames: list[FrameState], frame: FrameState) -> FrameState | None:
    for f in reversed(frames):
        if f.code.qualname == "<module>" and f.code.file == frame.code.file and f is not frame:
            return f
    return None


def scopes(pos: Position, args: dict[str, Any]) -> dict[str, Any]:
    tid, step, index, frame, frames = frame_of(pos, args.get("frameId"))
    out = [{"name": "Locals", "presentationHint": "locals", "expensive": False,
            "variablesReference": pos.refs.add(("locals", tid, step, index)),
            "namedVariables": len(frame.spans)}]
    if module_frame(frames, frame) is not None or any(
            n.startswith(globalvals.PREFIX) for n in frame.names()):
        out.append({"name": "Globals", "expensive": False,
                    "variablesReference": pos.refs.add(("globals", tid, step, index))})
    return {"scopes": out}


def _variable(pos: Position, name: str, node: Node, evaluate_name: str | None,
              ctx: tuple[int, int, int] | None = None) -> dict[str, Any]:
    if evaluate_name:
        node.path = evaluate_name
    if ctx is not None:
        node.ctx = ctx
    ref = pos.refs.add(("node", node)) if node.expandable else 0
    var: dict[str, Any] = {"name": name, "value": node.text, "type": node.type,
                           "variablesReference": ref}
    if node.path:
        var["evaluateName"] = node.path
    var["presentationHint"] = {"attributes": ["readOnly"]}
    return var


def _frame_variables(pos: Position, frame: FrameState, ctx: tuple[int, int, int],
                     with_event: bool) -> list[dict[str, Any]]:
    out = []
    if with_event:
        out.extend(_event_variables(pos, ctx[0], ctx[1], frame))
    for k, span in frame.spans.items():
        name = frame.strings[k]
        if name.startswith(globalvals.PREFIX):
            continue  # a module global the function uses: under Globals
        out.append(_variable(pos, name, encoded_node(frame.buf, span), name, ctx))
    return out


def _global_variables(pos: Position, tid: int, step: int, index: int,
                      frames: list[FrameState]) -> list[dict[str, Any]]:
    """The frame's module globals at the step: the module frame's record, the function's own
    (``global:NAME``), each replaced by a later record of it in any frame of the module (a
    function rebinds a global long after the module frame's last line)."""
    frame = frames[index]
    mod = module_frame(frames, frame)
    shown: dict[str, Node] = {}
    if mod is not None:
        for k, span in mod.spans.items():
            shown[mod.strings[k]] = encoded_node(mod.buf, span)
    for k, span in frame.spans.items():
        name = frame.strings[k]
        if name.startswith(globalvals.PREFIX):
            shown.setdefault(name[len(globalvals.PREFIX):], encoded_node(frame.buf, span))
    for name, where in globalvals.fresh(pos.tl, tid, step, frame.code.file, list(shown)).items():
        holder = globalvals.holder(pos.tl, where)
        span = holder.span_of(where.key) if holder is not None else None
        if holder is None or span is None:
            shown.pop(name, None)  # deleted (or no longer data) by then
        else:
            shown[name] = encoded_node(holder.buf, span)
    ctx = (tid, step, frames.index(mod)) if mod is not None else (tid, step, index)
    return [_variable(pos, name, node, name, ctx) for name, node in shown.items()]


def _event_variables(pos: Position, tid: int, step: int, frame: FrameState) -> list[dict[str, Any]]:
    """The return value at a return step, the exception at an exception step."""
    st = pos.tl.step(tid, step)
    if st.kind not in (E.RETURN, E.EXCEPTION):
        return []
    found = pos.tl.event_value(tid, step)
    if found is None:
        return []
    text, cut, exc_type = found
    node = value_node(ev.from_repr(text, cut))
    if st.kind == E.RETURN:
        return [_variable(pos, f"(return) {_frame_name(frame)}", node, None)]
    node.type = exc_type or node.type
    return [_variable(pos, f"(exception) {exc_type}", node, None)]


def variables(pos: Position, args: dict[str, Any]) -> dict[str, Any]:
    payload = pos.refs.get(args.get("variablesReference"), "variablesReference")
    if payload[0] in ("locals", "globals"):
        _kind, tid, step, index = payload
        frames = pos.tl.stack(tid, step)
        frame = frames[index]
        if payload[0] == "globals":
            result = _global_variables(pos, tid, step, index, frames)
        else:
            result = _frame_variables(pos, frame, (tid, step, index), index == 0)
    elif payload[0] == "node":
        result = [_variable(pos, name, node, None) for name, node in children(payload[1])]
    else:
        raise InvalidRequest("This reference has no variables.")
    start = int(args.get("start") or 0)
    count = int(args.get("count") or 0)
    if start or count:
        result = result[start:start + count] if count else result[start:]
    return {"variables": result}


def frame_lookup(frame: FrameState, frames: list[FrameState]) -> ev.Lookup:
    mod = module_frame(frames, frame)

    def lookup(name: str) -> Any:
        for f in (frame, mod):
            if f is None:
                continue
            found = f.value(name)
            if found is not None:
                return ev.from_recorded(found, name)
        raise KeyError(name)

    return lookup


def moment_lookup(tl: Timeline, tid: int, step: int, frame: FrameState,
                  frames: list[FrameState]) -> ev.Lookup:
    """`frame_lookup` at a step, with module globals as fresh as the recording knows them
    (see recording/globalvals.py): a function's rebinding of a global is seen after it."""
    base = frame_lookup(frame, frames)

    def lookup(name: str) -> Any:
        if frame.span_of(name) is None:  # not a local: a module global?
            where = globalvals.fresh(tl, tid, step, frame.code.file, [name]).get(name)
            if where is not None:
                holder = globalvals.holder(tl, where)
                found = holder.value(where.key) if holder is not None else None
                if found is None:
                    raise KeyError(name)
                return ev.from_repr(found[0], found[1], name)
        return base(name)

    return lookup


def evaluate(pos: Position, args: dict[str, Any]) -> dict[str, Any]:
    expression = args.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidRequest("'evaluate' needs an expression.")
    if args.get("frameId") is not None:
        tid, step, _index, frame, frames = frame_of(pos, args["frameId"])
    else:
        tid, step = pos.tid, pos.step
        frames = pos.tl.stack(tid, step)
        frame = frames[0]
    try:
        value = ev.evaluate(expression, moment_lookup(pos.tl, tid, step, frame, frames))
    except ev.EvalError as exc:
        raise InvalidRequest(f"Cannot evaluate over the recording: {exc}") from None
    node = value_node(value)
    ref = pos.refs.add(("node", node)) if node.expandable else 0
    return {"result": node.text, "type": node.type, "variablesReference": ref,
            "presentationHint": {"attributes": ["readOnly"]}}


def exception_info(pos: Position, args: dict[str, Any]) -> dict[str, Any]:
    tid = pos.rec_thread(args.get("threadId"))
    step = pos.step_of(tid)
    if step is None or pos.tl.step(tid, step).kind != E.EXCEPTION:
        raise InvalidRequest("The thread is not at an exception in the recording.")
    found = pos.tl.event_value(tid, step)
    text, _cut, exc_type = found or ("", False, None)
    return {"exceptionId": exc_type or "Exception", "description": exception_message(text),
            "breakMode": "always",
            "details": {"typeName": exc_type, "message": text,
                        "stackTrace": "".join(
                            f'  File "{f.code.file}", line {f.line}, in {_frame_name(f)}\n'
                            for f in reversed(pos.tl.stack(tid, step)))}}


def exception_message(text: str) -> str:
    """The message of a recorded exception repr: ``ValueError('too big')`` -> ``too big``."""
    if text.endswith(")") and "(" in text:
        inner = text[text.index("(") + 1:-1]
        try:
            value = ast.literal_eval(inner) if inner else ""
        except (ValueError, SyntaxError):
            return inner
        return value if isinstance(value, str) else inner
    return text


def source(args: dict[str, Any]) -> dict[str, Any]:
    src = args.get("source") or {}
    path = src.get("path")
    if not isinstance(path, str):
        raise InvalidRequest("Only sources with a path are available in a recording.")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return {"content": f.read(), "mimeType": "text/x-python"}
    except OSError as exc:
        raise InvalidRequest(f"Cannot read {path}: {exc.strerror or exc}") from None
