"""How values changed over a recording: last writer, value history, watchpoints.

The unit is a watched expression (a local's name, or an expression over
locals such as ``acc.total`` or ``items[0]``) in a set of frames: one frame,
every frame of one function, or every frame.  `changes()` walks the writes of
the names the expression reads (`chunks.writes`), re-evaluates it after each
and reports every step where its value differs from the one before, in that
frame.  A plain name is followed by comparing encoded values (`chunks.changes`,
in C when built): texts are decoded only for what is shown.

A chunk's keyframe holds the values at its first step, so a change may be
seen there without a write record: it is found by comparing with the values
at the previous step.  A change is seen at the step whose event carries the
new value (values are recorded as they are before a line runs); the line that made it is the
previous step of the same frame (`writer_step`), or the call itself for
arguments.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass

from devsandbox.recorder.format import E, decode_value

from . import chunks, evaluate, navigate
from .timeline import Timeline, release_memory

Value = bytes | str | None
"""A value: encoded (bytes), already a text, or None (unbound / not computable)."""


@dataclass(frozen=True)
class Watch:
    expression: str
    tid: int
    fids: frozenset[int] | None = None  # one frame (or a few)
    codes: frozenset[int] | None = None  # every frame of these functions
    # neither: every frame of the thread


@functools.lru_cache(maxsize=4096)
def _decode(raw: bytes) -> str:
    return decode_value(raw, 0)[0]


def text_of(value: Value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return _decode(value)


@dataclass
class Change:
    tid: int
    step: int  # where the new value is first seen
    fid: int
    code_id: int
    old_value: Value  # None: no value before (the name was unbound)
    new_value: Value  # None: deleted / unbound, or the expression could not be evaluated

    @property
    def old(self) -> str | None:
        return text_of(self.old_value)

    @property
    def new(self) -> str | None:
        return text_of(self.new_value)


def names_in(expression: str) -> list[str]:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise evaluate.EvalError(f"invalid syntax: {exc.msg}") from None
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in out:
            out.append(node.id)
    return out


def _name_ids(tl: Timeline, names: list[str]) -> dict[int, str]:
    wanted = set(names)
    return {i: s for i, s in enumerate(tl.rec.strings) if s in wanted}


class _Tracker:
    """Current values of the watched names per frame, and the expression's value."""

    def __init__(self, watch: Watch, ids: dict[int, str]) -> None:
        self.watch = watch
        self.ids = ids
        self.simple = watch.expression.strip() in ids.values() and len(set(ids.values())) == 1
        self.values: dict[int, dict[str, tuple[str, bool]]] = {}
        self.shown: dict[int, str | None] = {}
        self.raw: dict[int, bytes | None] = {}  # simple watches with the native scanner
        # every chunk of the thread so far went through this tracker (no seed): a keyframe's
        # copy of a frame it has not seen is that name's first value there, not a baseline
        self.complete = False

    def value(self, fid: int) -> str | None:
        current = self.values.get(fid, {})
        if self.simple:
            found = current.get(self.watch.expression.strip())
            return found[0] if found else None

        def lookup(name: str) -> object:
            if name not in current:
                raise KeyError(name)
            return evaluate.from_recorded(current[name], name)

        try:
            return evaluate.show(evaluate.evaluate(self.watch.expression, lookup))
        except evaluate.EvalError:
            return None

    def apply(self, buf: bytes, w: chunks.Write) -> tuple[str | None, str | None] | None:
        """Apply one write; (old, new) if the watched value changed."""
        _index, fid, _code, k, span, restated = w
        current = self.values.setdefault(fid, {})
        name = self.ids[k]
        if span is None:
            current.pop(name, None)
        else:
            current[name] = chunks.value_text(buf, span)
        new = self.value(fid)
        had = fid in self.shown
        old = self.shown.get(fid)
        self.shown[fid] = new
        if (had and old == new) or (not had and ((restated and not self.complete)
                                                 or new is None)):
            return None  # a keyframe's copy of an unknown frame is only a baseline
        return old, new

    def seed(self, tl: Timeline, step: int) -> None:
        """Start from the values at `step` (of the frames on the stack then)."""
        for frame in tl.stack(self.watch.tid, step):
            if not self._in_scope(frame.fid, frame.code_id):
                continue
            current = self.values.setdefault(frame.fid, {})
            for k, span in frame.spans.items():
                if k in self.ids:
                    current[self.ids[k]] = chunks.value_text(frame.buf, span)
                    self.raw[frame.fid] = bytes(frame.buf[span[0]:span[1]])
            self.shown[frame.fid] = self.value(frame.fid)

    def _in_scope(self, fid: int, code: int) -> bool:
        w = self.watch
        return (w.fids is None or fid in w.fids) and (w.codes is None or code in w.codes)

    @property
    def started(self) -> bool:
        return bool(self.shown or self.raw)


Raw = tuple[int, int, int, Value, Value]
"""(step, frame id, code id, new value, old value): a change without an object around it."""


def _chunk_raw(tl: Timeline, ci: int, tracker: _Tracker) -> list[Raw]:
    """The changes in one chunk, in order (its payload only: no full scan of the chunk)."""
    w = tracker.watch
    first, n = _range(tl, ci, w.tid)
    if not n:
        return []
    buf = tl.payload(ci)
    if tracker.simple and len(tracker.ids) == 1:
        (name_id,) = tracker.ids
        fast = chunks.changes(buf, w.tid, name_id, w.fids, w.codes, tracker.raw,
                              tracker.complete)
        if fast is not None:
            return [(first + (max(0, index)), fid, code, new, old)
                    for index, fid, code, new, old in fast]
    out: list[Raw] = []
    for write in chunks.writes(buf, w.tid, set(tracker.ids), w.fids, w.codes):
        changed = tracker.apply(buf, write)
        if changed is not None:
            out.append((first + max(write[0], 0), write[1], write[2], changed[1], changed[0]))
    return out


def _chunk_changes(tl: Timeline, ci: int, tracker: _Tracker) -> Iterator[Change]:
    tid = tracker.watch.tid
    for step, fid, code, new, old in _chunk_raw(tl, ci, tracker):
        yield Change(tid, step, fid, code, old, new)


def tally(tl: Timeline, watch: Watch, distinct: dict[Value, list[int]],
          keep: int) -> tuple[list[Raw], bool]:
    """Every change over the recording to a value (not to unbound or uncomputable)
    counted in `distinct` ({value: [count, first step, last step, thread]}); returns
    the first `keep` of those changes and whether there were more.  A plain name
    with the native scanner makes no object per change beyond those returned."""
    ids = _name_ids(tl, names_in(watch.expression))
    if not ids:
        return [], False
    tracker = _Tracker(watch, ids)
    tracker.complete = True  # from the thread's first chunk on
    id_set = frozenset(ids)
    tl.drop_cache()  # every chunk is read once: the decoded one's memory serves them
    listed: list[Raw] = []
    more = False
    tid = watch.tid
    for ci in tl.chunks_of(tid):
        if tracker.started and not (tl.summary(ci).names.get(tid, frozenset()) & id_set):
            continue
        first, n = _range(tl, ci, tid)
        if not n:
            continue
        if tracker.simple and len(tracker.ids) == 1:
            (name_id,) = tracker.ids
            fast = chunks.tally(tl.payload(ci), tid, name_id, watch.fids, watch.codes,
                                tracker.raw, distinct, first, max(0, keep - len(listed)),  # type: ignore[arg-type]
                                tracker.complete)
            if fast is not None:
                kept, counted = fast
                more = more or counted > len(kept)
                listed.extend((first + max(0, index), fid, code, new, old)
                              for index, fid, code, new, old in kept)
                continue
        for raw in _chunk_raw(tl, ci, tracker):
            step, new = raw[0], raw[3]
            if new is None:
                continue
            entry = distinct.get(new)
            if entry is None:
                distinct[new] = [1, step, step, tid]
            else:
                entry[0] += 1
                entry[2] = step
            if len(listed) < keep:
                listed.append(raw)
            else:
                more = True
    release_memory()  # the chunks decompressed on the way
    return listed, more


def changes(tl: Timeline, watch: Watch, start: int | None = None,
            end: int | None = None) -> Iterator[Change]:
    """Changes of the watched expression after step `start` (its value there is
    the baseline) up to `end` (inclusive), in order."""
    ids = _name_ids(tl, names_in(watch.expression))
    tracker = _Tracker(watch, ids)
    if not ids:
        return
    tid = watch.tid
    first = tl.first_step(tid) if start is None else start
    last = tl.step_count(tid) - 1 if end is None else end
    if start is not None:
        tracker.seed(tl, start)
    else:
        tracker.complete = True  # from the thread's first chunk on
    id_set = frozenset(ids)
    for ci in tl.chunks_of(tid):
        cfirst, cn = _range(tl, ci, tid)
        if cfirst + cn <= first:
            continue
        if cfirst > last:
            break
        if tracker.started and not (tl.summary(ci).names.get(tid, frozenset()) & id_set):
            continue  # nothing written here (values carry over)
        for change in _chunk_changes(tl, ci, tracker):
            if change.step <= first and start is not None:
                continue
            if change.step > last:
                return
            yield change


def _range(tl: Timeline, ci: int, tid: int) -> tuple[int, int]:
    for t, f, n in tl.rec._chunks[ci].threads:
        if t == tid:
            return f, n
    return 0, 0


def last_change(tl: Timeline, watch: Watch, before: int) -> Change | None:
    """The last change at or before step `before`, walking back chunk by chunk."""
    ids = _name_ids(tl, names_in(watch.expression))
    if not ids:
        return None
    tid = watch.tid
    id_set = frozenset(ids)
    chunk_ids = tl.chunks_of(tid)
    ci_now, _ = tl.locate(tid, before)
    for ci in reversed(chunk_ids[:chunk_ids.index(ci_now) + 1]):
        if ci != ci_now and not (tl.summary(ci).names.get(tid, frozenset()) & id_set):
            continue
        tracker = _Tracker(watch, ids)
        first = _range(tl, ci, tid)[0]
        if first > tl.first_step(tid):  # the values before the chunk (its keyframe may differ)
            tracker.seed(tl, first - 1)
        found = None
        for change in _chunk_changes(tl, ci, tracker):
            if change.step > before:
                break
            found = change
        if found is not None:
            return found
    return None


def first_change(tl: Timeline, watch: Watch, after: int) -> Change | None:
    for change in changes(tl, watch, after):
        return change
    return None


def writer_step(tl: Timeline, tid: int, step: int, fid: int) -> int:
    """The step whose line made the change first seen at `step`: the previous
    step of the same frame (the call itself for a new frame's arguments)."""
    st = tl.step(tid, step)
    if st.kind == E.CALL:
        return step
    for ts, k in navigate.walk(tl, tid, step, False, navigate.deeper_than(tl, tid, st.depth)):
        if ts.fids[k] == fid:
            return ts.first + k
        if ts.depths[k] < st.depth:
            break
    return step
