"""One pass over an events chunk: compact per-step arrays, checkpoints, a summary.

`scan_chunk(buf)` walks a decompressed EVENTS payload once, without building
value texts, and returns a `ChunkScan`:

- per thread, a `ThreadSteps`: for every step of the thread in this chunk its
  kind (the record's opcode), code id, line, depth, frame id and order in the
  chunk (for ordering steps of different threads), and every `CHECKPOINT`
  steps a snapshot of the thread's stack (each frame's locals as byte ranges
  into the payload), from which `ChunkScan.stack_at` rebuilds the full stack
  at any step by decoding at most `CHECKPOINT` records;
- the chunk's `Summary`: which (code, line) pairs, called codes and written
  names each thread has in it, and whether it raised, so that searches over
  the whole recording (reverse-continue, goto targets, value history) skip
  the chunks that cannot match.

Values stay encoded: a local is `(start, end)` into the payload until shown.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

from devsandbox.recorder.format import E, FormatError, V, decode_value

CHECKPOINT = 256
"""Steps between two stack snapshots of a thread."""

Extra = tuple[tuple[int, int], int] | None
"""Of a return or exception step: (its value's span, exception type name id or 0)."""


def skip_value(buf: bytes, pos: int) -> int:
    """The position after the value at `pos` (no text is built)."""
    tag = buf[pos]
    pos += 1
    if tag == V.INT:
        while buf[pos] & 0x80:
            pos += 1
        return pos + 1
    if tag <= V.FALSE:
        return pos
    if tag in (V.STR, V.REPR, V.BIGINT, V.REPR_ERROR, V.REPR_SLOW, V.BYTES):
        n, pos = _varint(buf, pos)
        return pos + n
    if tag == V.FLOAT:
        return pos + 8
    if V.LIST <= tag <= V.DICT:
        _total, pos = _varint(buf, pos)
        shown, pos = _varint(buf, pos)
        for _ in range(shown * 2 if tag == V.DICT else shown):
            pos = skip_value(buf, pos)
        return pos
    if tag in (V.STR_TRUNC, V.REPR_TRUNC, V.BYTES_TRUNC):
        _total, pos = _varint(buf, pos)
        n, pos = _varint(buf, pos)
        return pos + n
    if tag == V.COMPLEX:
        return pos + 16
    if tag == V.DEEP:
        _total, pos = _varint(buf, pos + 1)
        return pos
    if tag == V.RECUR:
        return pos + 1
    raise FormatError(f"unknown value tag 0x{tag:02x} at {pos - 1}")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    result = b & 0x7F
    shift = 7
    pos += 1
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


class Frame:
    """A frame of a thread's stack while decoding: locals as name id -> (start, end)."""

    __slots__ = ("code", "fid", "line", "values")

    def __init__(self, fid: int, code: int, line: int, values: dict[int, tuple[int, int]]) -> None:
        self.fid = fid
        self.code = code
        self.line = line
        self.values = values

    def copy(self) -> Frame:
        return Frame(self.fid, self.code, self.line, dict(self.values))


FrameTuple = tuple[int, int, int, dict[int, tuple[int, int]]]
"""(frame id, code id, line, {name id: value span}) of a checkpoint's frame."""


@dataclass
class Checkpoint:
    index: int  # step index in the chunk (0 = the thread's first step here)
    pos: int  # offset of the step's record
    stack: list[FrameTuple]  # the stack before the record (bottom first)


@dataclass
class ThreadSteps:
    tid: int
    first: int  # the thread's step number of index 0
    kinds: bytearray = field(default_factory=bytearray)
    codes: array = field(default_factory=lambda: array("I"))  # type: ignore[type-arg]
    lines: array = field(default_factory=lambda: array("I"))  # type: ignore[type-arg]
    depths: array = field(default_factory=lambda: array("H"))  # type: ignore[type-arg]
    fids: array = field(default_factory=lambda: array("I"))  # type: ignore[type-arg]
    order: array = field(default_factory=lambda: array("I"))  # type: ignore[type-arg]
    checkpoints: list[Checkpoint] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.kinds)

    @property
    def last(self) -> int:
        return self.first + len(self.kinds) - 1


@dataclass
class Summary:
    """What a chunk holds, per thread (kept for every chunk of a recording)."""

    lines: dict[int, dict[int, int]]  # tid -> {code << 24 | line: hits} of line events
    calls: dict[int, frozenset[int]]  # tid -> codes called
    names: dict[int, frozenset[int]]  # tid -> name ids written (SET/DEL, keyframes too)
    raised: dict[int, bool]  # tid -> has exception events
    min_depth: dict[int, int]  # tid -> smallest stack depth of a step
    marks: list[tuple[int, int, str, str]]  # (tid, step, kind, text)


def line_key(code: int, line: int) -> int:
    return (code << 24) | line


class _Thread:
    __slots__ = (
        "calls",
        "keyed",
        "lines",
        "min_depth",
        "names",
        "pop",
        "raised",
        "stack",
        "step",
        "steps",
    )

    def __init__(self, tid: int) -> None:
        self.steps = ThreadSteps(tid, 0)
        self.stack: list[Frame] = []
        self.step = 0
        self.pop = False
        self.lines: dict[int, int] = {}
        self.calls: set[int] = set()
        self.names: set[int] = set()
        self.raised = False
        self.keyed = False  # inside the keyframe
        self.min_depth = 1 << 16


@dataclass
class ChunkScan:
    buf: bytes
    threads: dict[int, ThreadSteps]
    summary: Summary
    nrecords: int

    def stack_at(self, tid: int, index: int) -> list[Frame]:
        """The stack of thread `tid` at its step `index` in this chunk (locals as
        they were at that step: after the step's own SET records)."""
        return self.state_at(tid, index)[0]

    def state_at(self, tid: int, index: int) -> tuple[list[Frame], Extra]:
        """The stack and, for a return or exception step, (value span, exception
        type name id or 0)."""
        ts = self.threads[tid]
        cps = ts.checkpoints
        lo, hi = 0, len(cps) - 1
        while lo < hi:  # last checkpoint with index <= wanted
            mid = (lo + hi + 1) // 2
            if cps[mid].index <= index:
                lo = mid
            else:
                hi = mid - 1
        return _replay(self.buf, cps[lo], index, tid)


def _replay(buf: bytes, cp: Checkpoint, index: int, tid: int) -> tuple[list[Frame], Extra]:
    stack = [Frame(fid, code, line, dict(values)) for fid, code, line, values in cp.stack]
    extra = None
    pos = cp.pos
    n = len(buf)
    at = cp.index - 1  # index of the last step applied
    mine = True
    pop = False
    while pos < n:
        op = buf[pos]
        pos += 1
        if op == E.SET:
            k, pos = _varint(buf, pos)
            end = skip_value(buf, pos)
            if mine:
                stack[-1].values[k] = (pos, end)
            pos = end
            continue
        if op == E.DEL:
            k, pos = _varint(buf, pos)
            if mine:
                stack[-1].values.pop(k, None)
            continue
        if mine:
            if at == index and op != E.MARK:
                break
            if pop:
                stack.pop()
                pop = False
        if op == E.LINE:
            line, pos = _varint(buf, pos)
            if mine:
                stack[-1].line = line
                at += 1
                extra = None
        elif op == E.THREAD:
            t, pos = _varint(buf, pos)
            mine = t == tid
        elif op == E.CALL or op == E.ENTER or op == E.KFRAME:
            fid, pos = _varint(buf, pos)
            code, pos = _varint(buf, pos)
            line, pos = _varint(buf, pos)
            if mine:
                stack.append(Frame(fid, code, line, {}))
                if op == E.CALL:
                    at += 1
                    extra = None
        elif op == E.RETURN:
            line, pos = _varint(buf, pos)
            end = skip_value(buf, pos)
            if mine:
                stack[-1].line = line
                pop = True
                at += 1
                extra = ((pos, end), 0)
            pos = end
        elif op == E.EXCEPTION:
            line, pos = _varint(buf, pos)
            ty, pos = _varint(buf, pos)
            end = skip_value(buf, pos)
            if mine:
                stack[-1].line = line
                at += 1
                extra = ((pos, end), ty)
            pos = end
        elif op == E.POP:
            k, pos = _varint(buf, pos)
            if mine:
                del stack[len(stack) - k:]
        elif op == E.KEYFRAME:
            _s, pos = _varint(buf, pos)
            _d, pos = _varint(buf, pos)
            if mine:
                stack = []
        elif op == E.MARK:
            _k, pos = _varint(buf, pos)
            ln, pos = _varint(buf, pos)
            pos += ln
        else:
            raise FormatError(f"unknown event record 0x{op:02x} at {pos - 1}")
    return stack, extra


try:
    from devsandbox import _timescan as native  # server/devsandbox/_native/timescan.c
except ImportError:  # not built: the same passes in Python, about 50 times slower
    native = None


def scan_chunk(buf: bytes, strings: list[str]) -> ChunkScan:
    """One pass over a decompressed EVENTS payload."""
    if native is not None:
        return _scan_native(buf, strings)
    return _scan_python(buf, strings)


def _scan_native(buf: bytes, strings: list[str], summary_only: bool = False) -> ChunkScan:
    try:
        threads, marks = native.scan(buf, CHECKPOINT, summary_only)
    except ValueError as exc:
        raise FormatError(str(exc)) from None
    steps: dict[int, ThreadSteps] = {}
    lines, calls, names, raised, min_depth = {}, {}, {}, {}, {}
    nrecords = 0
    for (tid, first, kinds, codes, lns, depths, fids, order, cps, counts, called, written,
         exc, mind, nsteps, typecode) in threads:
        if not summary_only:
            steps[tid] = ThreadSteps(
                tid, first, kinds, memoryview(codes).cast(typecode),
                memoryview(lns).cast(typecode), memoryview(depths).cast("H"),
                memoryview(fids).cast("I"),
                range(nsteps) if order is None else memoryview(order).cast("I"),
                [Checkpoint(i, p, st) for i, p, st in cps])
        lines[tid], calls[tid], names[tid] = counts, called, written
        raised[tid], min_depth[tid] = exc, mind
        nrecords += nsteps
    summary = Summary(lines, calls, names, raised, min_depth,
                      [(t, step, strings[k], text.decode("utf-8", "replace"))
                       for t, step, k, text in marks])
    return ChunkScan(b"" if summary_only else buf, steps, summary, nrecords)


def summarize_chunk(buf: bytes, strings: list[str]) -> Summary:
    """Only the chunk's summary (cheaper than a full scan with the native module)."""
    if native is not None:
        return _scan_native(buf, strings, True).summary
    return _scan_python(buf, strings).summary


def _scan_python(buf: bytes, strings: list[str]) -> ChunkScan:
    threads: dict[int, _Thread] = {}
    th: _Thread | None = None
    pos, n = 0, len(buf)
    order = 0
    marks: list[tuple[int, int, str, str]] = []
    vi = _varint
    sv = skip_value
    while pos < n:
        start = pos
        op = buf[pos]
        pos += 1
        if op == E.SET:
            k, pos = vi(buf, pos)
            end = sv(buf, pos)
            th.stack[-1].values[k] = (pos, end)  # type: ignore[union-attr]
            th.names.add(k)  # type: ignore[union-attr]
            pos = end
            continue
        if op == E.DEL:
            k, pos = vi(buf, pos)
            th.stack[-1].values.pop(k, None)  # type: ignore[union-attr]
            th.names.add(k)  # type: ignore[union-attr]
            continue
        if th is not None and th.pop:
            th.stack.pop()
            th.pop = False
        if op == E.LINE or op == E.CALL or op == E.RETURN or op == E.EXCEPTION:
            assert th is not None
            th.keyed = False
            ts = th.steps
            idx = len(ts.kinds)
            if idx % CHECKPOINT == 0:
                ts.checkpoints.append(Checkpoint(idx, start, [
                    (f.fid, f.code, f.line, dict(f.values)) for f in th.stack]))
            if op == E.LINE:
                line, pos = vi(buf, pos)
                top = th.stack[-1]
                top.line = line
            elif op == E.CALL:
                fid, pos = vi(buf, pos)
                code, pos = vi(buf, pos)
                line, pos = vi(buf, pos)
                top = Frame(fid, code, line, {})
                th.stack.append(top)
                th.calls.add(code)
            elif op == E.RETURN:
                line, pos = vi(buf, pos)
                pos = sv(buf, pos)
                top = th.stack[-1]
                top.line = line
                th.pop = True
            else:
                line, pos = vi(buf, pos)
                _ty, pos = vi(buf, pos)
                pos = sv(buf, pos)
                top = th.stack[-1]
                top.line = line
                th.raised = True
            code = top.code
            if op == E.LINE:
                key = (code << 24) | line
                lines = th.lines
                lines[key] = lines.get(key, 0) + 1
            depth = len(th.stack) - 1
            th.min_depth = min(th.min_depth, depth)
            ts.kinds.append(op)
            ts.codes.append(code)
            ts.lines.append(line)
            ts.depths.append(depth)
            ts.fids.append(top.fid)
            ts.order.append(order)
            order += 1
            th.step += 1
        elif op == E.THREAD:
            tid, pos = vi(buf, pos)
            th = threads.get(tid)
            if th is None:
                th = threads[tid] = _Thread(tid)
        elif op == E.KEYFRAME:
            step, pos = vi(buf, pos)
            _depth, pos = vi(buf, pos)
            assert th is not None
            th.step = step
            if not th.steps.kinds:
                th.steps.first = step
            th.stack = []
            th.keyed = True
        elif op == E.KFRAME or op == E.ENTER:
            fid, pos = vi(buf, pos)
            code, pos = vi(buf, pos)
            line, pos = vi(buf, pos)
            th.stack.append(Frame(fid, code, line, {}))  # type: ignore[union-attr]
        elif op == E.POP:
            k, pos = vi(buf, pos)
            del th.stack[len(th.stack) - k:]  # type: ignore[union-attr]
        elif op == E.MARK:
            kind, pos = vi(buf, pos)
            ln, pos = vi(buf, pos)
            text = buf[pos:pos + ln].decode("utf-8", "replace")
            pos += ln
            if th is not None:
                marks.append((th.steps.tid, th.step - 1, strings[kind], text))
        else:
            raise FormatError(f"unknown event record 0x{op:02x} at {start}")
    summary = Summary(
        lines={t: x.lines for t, x in threads.items()},
        calls={t: frozenset(x.calls) for t, x in threads.items()},
        names={t: frozenset(x.names) for t, x in threads.items()},
        raised={t: x.raised for t, x in threads.items()},
        min_depth={t: x.min_depth for t, x in threads.items()},
        marks=marks,
    )
    return ChunkScan(buf, {t: x.steps for t, x in threads.items() if x.steps.kinds}, summary, order)


def value_text(buf: bytes, span: tuple[int, int]) -> tuple[str, bool]:
    """(repr text, truncated) of an encoded value."""
    text, cut, _ = decode_value(buf, span[0])
    return text, cut


Write = tuple[int, int, int, int, tuple[int, int] | None, bool]
"""(step index, frame id, code id, name id, value span or None when deleted,
restated: True for a keyframe's copy of a value (the value at the chunk's
first step, which may differ from the one at the previous step)."""


def writes(buf: bytes, tid: int, names: frozenset[int] | set[int],
           fids: frozenset[int] | set[int] | None = None,
           codes: frozenset[int] | set[int] | None = None) -> list[Write]:
    """The SET/DEL records of thread `tid` for `names` in this chunk, in frames
    `fids` (or frames of `codes`, or any frame), with the step they belong to."""
    if native is not None and len(names) <= 64:
        try:
            found = native.writes(buf, tid, set(names), _set(fids), _set(codes))
        except ValueError as exc:
            raise FormatError(str(exc)) from None
        return [(i, f, c, k, (a, b) if a >= 0 else None, r) for i, f, c, k, a, b, r in found]
    out: list[Write] = []
    stack: list[tuple[int, int]] = []  # (fid, code)
    pos, n = 0, len(buf)
    mine = False
    index = -1
    keyed = False
    pop = False
    vi = _varint
    while pos < n:
        op = buf[pos]
        pos += 1
        if op == E.SET or op == E.DEL:
            k, pos = vi(buf, pos)
            end = skip_value(buf, pos) if op == E.SET else pos
            if mine and k in names:
                fid, code = stack[-1]
                if (fids is None or fid in fids) and (codes is None or code in codes):
                    out.append((index, fid, code, k, (pos, end) if op == E.SET else None, keyed))
            pos = end
            continue
        if mine and pop:
            stack.pop()
            pop = False
        if op == E.LINE:
            while buf[pos] & 0x80:
                pos += 1
            pos += 1
            if mine:
                index += 1
                keyed = False
        elif op == E.THREAD:
            t, pos = vi(buf, pos)
            mine = t == tid
        elif op == E.CALL or op == E.ENTER or op == E.KFRAME:
            fid, pos = vi(buf, pos)
            code, pos = vi(buf, pos)
            _line, pos = vi(buf, pos)
            if mine:
                stack.append((fid, code))
                if op == E.CALL:
                    index += 1
                keyed = op != E.CALL  # an entered frame's values are not writes
        elif op == E.RETURN:
            _line, pos = vi(buf, pos)
            pos = skip_value(buf, pos)
            if mine:
                index += 1
                keyed = False
                pop = True
        elif op == E.EXCEPTION:
            _line, pos = vi(buf, pos)
            _ty, pos = vi(buf, pos)
            pos = skip_value(buf, pos)
            if mine:
                index += 1
                keyed = False
        elif op == E.POP:
            k, pos = vi(buf, pos)
            if mine:
                del stack[len(stack) - k:]
        elif op == E.KEYFRAME:
            _s, pos = vi(buf, pos)
            _d, pos = vi(buf, pos)
            if mine:
                stack = []
                keyed = True
        elif op == E.MARK:
            _k, pos = vi(buf, pos)
            ln, pos = vi(buf, pos)
            pos += ln
        else:
            raise FormatError(f"unknown event record 0x{op:02x} at {pos - 1}")
    return out


def _set(ids: Any) -> set[int] | None:
    return None if ids is None else set(ids)


def changes(buf: bytes, tid: int, name: int, fids: Any, codes: Any,
            last: dict[int, bytes | None]) -> list[tuple[int, int, int, bytes | None]] | None:
    """The writes of one name whose encoded value differs from the frame's
    previous one in `last` (updated): (step index, fid, code, value bytes or
    None when deleted).  None when the native module is not built."""
    if native is None:
        return None
    try:
        return native.changes(buf, tid, name, _set(fids), _set(codes), last)  # type: ignore[no-any-return]
    except ValueError as exc:
        raise FormatError(str(exc)) from None
