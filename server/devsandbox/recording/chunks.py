"""One pass over an events chunk: compact per-step arrays, checkpoints, a summary.

`scan_chunk(buf)` walks a decompressed EVENTS payload once, without building
value texts, and returns a `ChunkScan`:

- per thread, a `ThreadSteps`: for every step of the thread in this chunk its
  kind (the record's opcode), code id, line, depth, frame id and order in the
  chunk (for ordering steps of different threads), and every `CHECKPOINT`
  steps a snapshot of the thread's stack (each frame's locals as byte ranges
  into the payload, packed in an array of words: `checkpoint_stack`), from
  which `ChunkScan.stack_at` rebuilds the full stack at any step by decoding
  at most `CHECKPOINT` records;
- the chunk's `Summary`: which (code, line) pairs, called codes and written
  names each thread has in it, and whether it raised, so that searches over
  the whole recording (reverse-continue, goto targets, value history) skip
  the chunks that cannot match.

Values stay encoded: a local is `(start, end)` into the payload until shown.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from devsandbox.recorder.format import E, FormatError, Shown, V, decode_value

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
    if tag == V.FMT:
        count, pos = _varint(buf, pos)
        for _ in range(count):
            how = buf[pos]
            pos += 1
            if how == 0 or how == 3:
                n, pos = _varint(buf, pos)
                pos += n
            if how != 0:
                pos = skip_value(buf, pos)
        return pos
    if tag == V.OBJECT:
        n, pos = _varint(buf, pos)
        _total, pos = _varint(buf, pos + n)
        shown, pos = _varint(buf, pos)
        for _ in range(shown):
            n, pos = _varint(buf, pos)
            pos = skip_value(buf, pos + n)
        return pos
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

    __slots__ = ("code", "fid", "line", "snap", "values")

    def __init__(self, fid: int, code: int, line: int, values: dict[int, tuple[int, int]]) -> None:
        self.fid = fid
        self.code = code
        self.line = line
        self.values = values
        self.snap = 0  # scanning: 1 + its word in the last packed checkpoint; 0: changed since

    def copy(self) -> Frame:
        return Frame(self.fid, self.code, self.line, dict(self.values))


CP_REF = 0xFFFFFFFF
"""In packed checkpoints: a frame unchanged since an earlier checkpoint (then its word)."""


def pack_checkpoint(words: array, at: array, pos: int, stack: list[Frame]) -> None:  # type: ignore[type-arg]
    """Append a checkpoint to packed `words` (and its first word to `at`): the record's
    offset, the depth, then each frame bottom first as fid, code, line, n and n triples
    (name id, start, end), or, when `frame.snap` says where an earlier checkpoint holds
    the frame unchanged, as CP_REF and that word (the native scanner's layout)."""
    at.append(len(words))
    words.extend((pos, len(stack)))
    for f in stack:
        if f.snap:
            words.extend((CP_REF, f.snap - 1))
            continue
        f.snap = len(words) + 1
        words.extend((f.fid, f.code, f.line, len(f.values)))
        for k, (a, b) in f.values.items():
            words.extend((k, a, b))


def checkpoint_stack(words: Any, start: int) -> tuple[int, list[Frame]]:
    """(record offset, stack) of the packed checkpoint at word `start`."""
    pos, depth = words[start], words[start + 1]
    at = start + 2
    stack = []
    for _ in range(depth):
        e = at
        if words[at] == CP_REF:
            e = words[at + 1]
            at += 2
        else:
            at += 4 + 3 * words[at + 3]
        p = e + 4
        values = {}
        for _ in range(words[e + 3]):
            values[words[p]] = (words[p + 1], words[p + 2])
            p += 3
        stack.append(Frame(words[e], words[e + 1], words[e + 2], values))
    return pos, stack


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
    # packed checkpoints (see checkpoint_stack); checkpoint j, of step j * CHECKPOINT,
    # starts at word cp_at[j]
    cp_words: Any = field(default_factory=lambda: array("I"))
    cp_at: Any = field(default_factory=lambda: array("I"))

    def __len__(self) -> int:
        return len(self.kinds)

    @property
    def last(self) -> int:
        return self.first + len(self.kinds) - 1


class Counts(Mapping[int, int]):
    """A read-only {key: count}, packed: keys and counts interleaved in one array of
    words (a dict of a few dozen ints costs ~1.5 KB; this, a quarter of it)."""

    __slots__ = ("_kv",)

    def __init__(self, counts: Mapping[int, int]) -> None:
        self._kv = array("Q")
        for key in sorted(counts):
            self._kv.append(key)
            self._kv.append(counts[key])

    def _index(self, key: object) -> int:
        if not isinstance(key, int):
            return -1
        kv = self._kv
        lo, hi = 0, len(kv) // 2
        while lo < hi:
            mid = (lo + hi) // 2
            if kv[2 * mid] < key:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(kv) // 2 and kv[2 * lo] == key else -1

    def __getitem__(self, key: int) -> int:
        i = self._index(key)
        if i < 0:
            raise KeyError(key)
        return self._kv[2 * i + 1]

    def __contains__(self, key: object) -> bool:
        return self._index(key) >= 0

    def __iter__(self) -> Iterator[int]:
        return iter(self._kv[0::2])

    def __len__(self) -> int:
        return len(self._kv) // 2


class IdSet(AbstractSet[int]):
    """A read-only set of small non-negative ints, packed in a sorted array (a frozenset
    of a few dozen ints costs ~2 KB; this, under 200 bytes)."""

    __slots__ = ("_ids",)

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._ids = array("Q", sorted(set(ids)))

    @classmethod
    def _from_iterable(cls, it: Iterable[int]) -> IdSet:
        return cls(it)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int):
            return False
        i = bisect_left(self._ids, key)
        return i < len(self._ids) and self._ids[i] == key

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


class OneThread(Mapping[int, Any]):
    """A read-only {tid: value} of one thread, what most chunks hold (a dict of one item
    costs ~180 bytes; this, 48)."""

    __slots__ = ("_tid", "_value")

    def __init__(self, tid: int, value: Any) -> None:
        self._tid = tid
        self._value = value

    def __getitem__(self, key: int) -> Any:
        if key == self._tid:
            return self._value
        raise KeyError(key)

    def __iter__(self) -> Iterator[int]:
        return iter((self._tid,))

    def __len__(self) -> int:
        return 1


def _per_thread(items: Mapping[int, Any], pack: Any = None) -> Mapping[int, Any]:
    packed = {t: pack(v) if pack is not None and not isinstance(v, pack) else v
              for t, v in items.items()}
    if len(packed) == 1:
        ((tid, value),) = packed.items()
        return OneThread(tid, value)
    return packed


@dataclass(slots=True)
class Summary:
    """What a chunk holds, per thread (kept for every chunk of a recording, so packed:
    `Counts` and `IdSet`, whatever mappings and sets the scanners hand over; a chunk of one
    thread's steps maps it with a `OneThread`; no marks: a shared empty tuple)."""

    lines: Mapping[int, Counts]  # tid -> {code << 24 | line: hits} of line events
    calls: Mapping[int, IdSet]  # tid -> codes called
    names: Mapping[int, IdSet]  # tid -> name ids written (SET/DEL, keyframes too)
    raised: Mapping[int, bool]  # tid -> has exception events
    min_depth: Mapping[int, int]  # tid -> smallest stack depth of a step
    marks: Sequence[tuple[int, int, str, str]]  # (tid, step, kind, text)

    def __post_init__(self) -> None:
        self.lines = _per_thread(self.lines, Counts)
        self.calls = _per_thread(self.calls, IdSet)
        self.names = _per_thread(self.names, IdSet)
        self.raised = _per_thread(self.raised)
        self.min_depth = _per_thread(self.min_depth)
        self.marks = list(self.marks) if self.marks else ()


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
        j = index // CHECKPOINT
        pos, stack = checkpoint_stack(ts.cp_words, ts.cp_at[j])
        return _replay(self.buf, pos, stack, j * CHECKPOINT, index, tid)


def _replay(buf: bytes, pos: int, stack: list[Frame], cp_index: int, index: int,
            tid: int) -> tuple[list[Frame], Extra]:
    """From the checkpoint of step `cp_index` (its record at `pos`, its `stack`, which
    is updated) to the step `index`."""
    extra = None
    n = len(buf)
    at = cp_index - 1  # index of the last step applied
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
         exc, mind, nsteps, types) in threads:
        if not summary_only:
            steps[tid] = ThreadSteps(
                tid, first, kinds, memoryview(codes).cast(types[0]),
                memoryview(lns).cast(types[1]), memoryview(depths).cast(types[2]),
                memoryview(fids).cast(types[3]),
                range(nsteps) if order is None else memoryview(order).cast("I"),
                memoryview(cps[0]).cast("I"), memoryview(cps[1]).cast("I"))
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
    """(repr text, truncated) of an encoded value (for an object recorded with its
    attributes, a `Shown` that also knows where they are: `evaluate.from_recorded`)."""
    text, cut, _ = decode_value(buf, span[0])
    if buf[span[0]] == V.OBJECT:
        return Shown(text, cut, buf, span[0])
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
            last: dict[int, bytes | None], complete: bool = False,
            ) -> list[tuple[int, int, int, bytes | None]] | None:
    """The writes of one name whose encoded value differs from the frame's
    previous one in `last` (updated): (step index, fid, code, value bytes or
    None when deleted).  `complete`: every earlier chunk went through `last`, so
    a keyframe's copy for a frame not in it is a first value, not a baseline.
    None when the native module is not built."""
    if native is None:
        return None
    try:
        return native.changes(buf, tid, name, _set(fids), _set(codes), last,  # type: ignore[no-any-return]
                              None, 0, -1, complete)
    except ValueError as exc:
        raise FormatError(str(exc)) from None


def tally(buf: bytes, tid: int, name: int, fids: Any, codes: Any, last: dict[int, bytes | None],
          distinct: dict[bytes, list[int]], first: int, keep: int, complete: bool = False,
          ) -> tuple[list[tuple[int, int, int, bytes, bytes | None]], int] | None:
    """`changes` counted rather than listed: each change to a value (not a deletion)
    counts in `distinct` ({value bytes: [count, first step, last step, tid]}, steps
    being `first` + index); returns the first `keep` of them and how many there were.
    None when the native module is not built."""
    if native is None:
        return None
    try:
        return native.changes(buf, tid, name, _set(fids), _set(codes), last,  # type: ignore[no-any-return]
                              distinct, first, keep, complete)
    except ValueError as exc:
        raise FormatError(str(exc)) from None
