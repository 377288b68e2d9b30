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
        elif op == E.CLOCK:  # times: see clock_times
            _t, pos = _varint(buf, pos)
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
    from .pyscan import scan_python

    return scan_python(buf, strings)


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


def clock_times(buf: bytes, tid: int) -> dict[int, int]:
    """{step index: µs since the recording's clock origin} of the steps of thread `tid` in
    this chunk that a CLOCK record dates (format 1.2: every call and return, and the step
    after a pop); empty for older recordings."""
    if native is not None:
        try:
            idx, times = native.clocks(buf, tid)
        except ValueError as exc:
            raise FormatError(str(exc)) from None
        return dict(zip(memoryview(idx).cast("I"), memoryview(times).cast("Q")))
    from .pyscan import clocks_python

    return clocks_python(buf, tid)


def summarize_chunk(buf: bytes, strings: list[str]) -> Summary:
    """Only the chunk's summary (cheaper than a full scan with the native module)."""
    if native is not None:
        return _scan_native(buf, strings, True).summary
    from .pyscan import scan_python

    return scan_python(buf, strings).summary


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
    from .pyscan import writes_python

    return writes_python(buf, tid, names, fids, codes)


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
