"""Moving through a recording: stepping both ways and searching for steps.

Plain functions over a `Timeline`; positions are a thread and its step.
Stepping stops only at "line" and "exception" events (a call's first line,
not the call; the caller's next line after a return, like a live debugger).

- `step_over` (next / stepBack at line or statement granularity): the next or
  previous line of the same frame, or of a caller once the frame is left;
- `step_into` (stepIn / devsandbox/stepBackIn): the next or previous line of
  any frame;
- `step_out` (stepOut / devsandbox/stepBackOut): the caller's next line, or the
  caller's line that made the call.

Searches walk chunk by chunk and use the chunk summaries to skip the chunks
that cannot hold what they look for (see `chunks.Summary`).
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from devsandbox.recorder.format import E

from .chunks import ThreadSteps, line_key
from .timeline import Timeline

STOPPABLE = (E.LINE, E.EXCEPTION)

Position = tuple[int, int]  # (thread, step)


def walk(tl: Timeline, tid: int, step: int, forward: bool,
          skip: Callable[[int], bool]) -> Iterator[tuple[ThreadSteps, int]]:
    """The thread's steps after (or before) `step`, skipping chunks where `skip(ci)`."""
    ci, i = tl.locate(tid, step)
    idx = tl.chunks_of(tid)
    j = idx.index(ci)
    i += 1 if forward else -1
    while 0 <= j < len(idx):
        ts = tl.scan(idx[j]).threads[tid]
        if forward:
            yield from ((ts, k) for k in range(i, len(ts)))
        else:
            yield from ((ts, k) for k in range(i, -1, -1))
        j += 1 if forward else -1
        while 0 <= j < len(idx) and skip(idx[j]):
            j += 1 if forward else -1
        if 0 <= j < len(idx):
            i = 0 if forward else _count(tl, idx[j], tid) - 1


def _count(tl: Timeline, ci: int, tid: int) -> int:
    for t, _first, n in tl.rec._chunks[ci].threads:
        if t == tid:
            return n
    return 0


def deeper_than(tl: Timeline, tid: int, depth: int) -> Callable[[int], bool]:
    """A chunk whose every step of `tid` is deeper than `depth` (needs its summary)."""
    def skip(ci: int) -> bool:
        s = tl.summary(ci)
        return s.min_depth.get(tid, 1 << 16) > depth
    return skip


def step_over(tl: Timeline, tid: int, step: int, forward: bool) -> int | None:
    cur = tl.step(tid, step)
    for ts, k in walk(tl, tid, step, forward, deeper_than(tl, tid, cur.depth)):
        if ts.kinds[k] in STOPPABLE and (ts.fids[k] == cur.fid or ts.depths[k] < cur.depth):
            return ts.first + k
    return None


def step_into(tl: Timeline, tid: int, step: int, forward: bool) -> int | None:
    for ts, k in walk(tl, tid, step, forward, lambda ci: False):
        if ts.kinds[k] in STOPPABLE:
            return ts.first + k
    return None


def step_out(tl: Timeline, tid: int, step: int, forward: bool) -> int | None:
    cur = tl.step(tid, step)
    if cur.depth == 0:
        return None
    for ts, k in walk(tl, tid, step, forward, deeper_than(tl, tid, cur.depth - 1)):
        if ts.depths[k] < cur.depth and ts.kinds[k] in STOPPABLE:
            return ts.first + k
    return None


def first_stop(tl: Timeline, tid: int) -> int:
    """The thread's first line (or its first step if it has none)."""
    first = tl.first_step(tid)
    if tl.step(tid, first).kind in STOPPABLE:
        return first
    nxt = step_into(tl, tid, first, True)
    return first if nxt is None else nxt


def last_stop(tl: Timeline, tid: int) -> int:
    last = tl.step_count(tid) - 1
    if tl.step(tid, last).kind in STOPPABLE:
        return last
    prev = step_into(tl, tid, last, False)
    return last if prev is None else prev


# ---- searching for steps of all threads ----------------------------------------------------

def _find_aligned(data: bytes, needle: bytes, size: int, forward: bool = True) -> Iterator[int]:
    """Indices i (in items of `size` bytes) where the item equals `needle`, in increasing
    order (or decreasing when not `forward`)."""
    if forward:
        at = data.find(needle)
        while at >= 0:
            if at % size == 0:
                yield at // size
                at = data.find(needle, at + size)
            else:
                at = data.find(needle, at + 1)
        return
    at = data.rfind(needle)
    while at >= 0:
        if at % size == 0:
            yield at // size
            at = data.rfind(needle, 0, at)
        else:
            at = data.rfind(needle, 0, at + size - 1)


_PACK = {1: "=B", 2: "=H", 4: "=I"}


def _item_bytes(values: Any) -> bytes:
    """The items of a step array as bytes, without a copy when they are bytes already (the
    native scanner's arrays are memoryviews of bytes)."""
    if isinstance(values, memoryview) and isinstance(values.obj, bytes) and values.c_contiguous \
            and values.nbytes == len(values.obj):
        return values.obj
    return bytes(values)


def _in_order(sources: list[Iterator[Any]], forward: bool) -> Iterator[Any]:
    """The items of several sorted iterators as one, in order (reversed when not
    `forward`)."""
    if len(sources) == 1:
        return sources[0]
    return heapq.merge(*sources, reverse=not forward)


def iter_line_hits(ts: ThreadSteps, keys: set[int], lines: set[int],
                   forward: bool = True) -> Iterator[int]:
    """Indices of the line events of `ts` at one of the (code, line) `keys`, in order
    (reversed when not `forward`), found lazily (no list of every hit)."""
    data = _item_bytes(ts.lines)
    size = ts.lines.itemsize
    kinds, codes = ts.kinds, ts.codes

    def one(line: int) -> Iterator[int]:
        for i in _find_aligned(data, struct.pack(_PACK[size], line), size, forward):
            if kinds[i] == E.LINE and line_key(codes[i], line) in keys:
                yield i

    return _in_order([one(line) for line in lines if line < 1 << (8 * size)], forward)


def line_hits(ts: ThreadSteps, keys: set[int], lines: set[int]) -> list[int]:
    """Indices of the line events of `ts` at one of the (code, line) `keys`."""
    return list(iter_line_hits(ts, keys, lines))


def iter_kind_hits(ts: ThreadSteps, kind: int, forward: bool = True) -> Iterator[int]:
    kinds = ts.kinds
    if forward:
        at = kinds.find(kind)
        while at >= 0:
            yield at
            at = kinds.find(kind, at + 1)
    else:
        at = kinds.rfind(kind)
        while at >= 0:
            yield at
            at = kinds.rfind(kind, 0, at)


def kind_hits(ts: ThreadSteps, kind: int) -> list[int]:
    return list(iter_kind_hits(ts, kind))


Candidate = tuple[int, int, int, str]  # (order in chunk, thread, step, what)
Finder = Callable[..., Iterable[Candidate]]
"""finder(ci) -> the candidates in chunk `ci` (a list, any order); finder(ci, forward) ->
an iterator over them in the recorded order (reversed when not `forward`), made lazily so
that a search that stops at the first accepted one builds no list of every hit (a line run
thousands of times per chunk)."""


def _ordered(found: Iterable[Candidate], forward: bool | None) -> Iterable[Candidate]:
    return list(found) if forward is None else found


def merged(finders: list[Finder]) -> Finder:
    """One finder over the candidates of several."""
    def find(ci: int, forward: bool | None = None) -> Iterable[Candidate]:
        if forward is None:
            return [c for f in finders for c in f(ci)]
        return _in_order([iter(f(ci, forward)) for f in finders], forward)
    return find


def _threads_finder(tl: Timeline, wanted: Callable[[Any], Iterable[int]],
                    hits: Callable[[ThreadSteps, int, bool], Iterator[Candidate]]) -> Finder:
    """A finder whose candidates are the `hits` in the threads of a chunk that its summary
    says may hold some (`wanted(summary)`), merged in the recorded order."""
    def find(ci: int, forward: bool | None = None) -> Iterable[Candidate]:
        way = forward is not False  # (the chunk is scanned only if a thread is wanted)
        per_thread = [hits(tl.scan(ci).threads[tid], tid, way) for tid in wanted(tl.summary(ci))]
        return _ordered(_in_order(per_thread, way), forward)
    return find


def search(tl: Timeline, start: tuple[int, int], forward: bool, finder: Finder,
           accept: Callable[[Candidate], bool]) -> Candidate | None:
    """The nearest candidate strictly after (before) the global point `start`
    that `accept` takes, walking chunks in order; `finder(ci, forward)` lists a chunk's
    candidates in the walking order (and is expected to be empty fast for chunks it can
    skip)."""
    ci, order = start
    n = tl.nchunks
    while 0 <= ci < n:
        for cand in finder(ci, forward):
            if ci == start[0] and (cand[0] <= order if forward else cand[0] >= order):
                continue
            if accept(cand):
                return cand
        ci += 1 if forward else -1
    return None


def line_finder(tl: Timeline, keys: set[int]) -> Finder:
    """Candidates: line events at one of `keys` (code << 24 | line), all threads."""
    lines = {k & 0xFFFFFF for k in keys}

    def hits(ts: ThreadSteps, tid: int, forward: bool) -> Iterator[Candidate]:
        order, first = ts.order, ts.first
        for i in iter_line_hits(ts, keys, lines, forward):
            yield (order[i], tid, first + i, "line")

    return _threads_finder(tl, lambda summary: (
        tid for tid, present in summary.lines.items() if any(k in present for k in keys)), hits)


def exception_finder(tl: Timeline) -> Finder:
    """Candidates: exception events where an exception was raised (not where it
    only passed through on its way out of a callee)."""

    def hits(ts: ThreadSteps, tid: int, forward: bool) -> Iterator[Candidate]:
        for i in iter_kind_hits(ts, E.EXCEPTION, forward):
            if not propagated(tl, tid, ts.first + i):
                yield (ts.order[i], tid, ts.first + i, "exception")

    return _threads_finder(tl, lambda summary: (
        tid for tid, raised in summary.raised.items() if raised), hits)


def call_finder(tl: Timeline, codes: set[int]) -> Finder:
    """Candidates: the first line of calls of the given code ids."""

    def hits(ts: ThreadSteps, tid: int, forward: bool) -> Iterator[Candidate]:
        for i in iter_kind_hits(ts, E.CALL, forward):
            if ts.codes[i] in codes:
                yield (ts.order[i], tid, ts.first + i, "function")

    return _threads_finder(tl, lambda summary: (
        tid for tid, called in summary.calls.items() if codes & called), hits)


def propagated(tl: Timeline, tid: int, step: int) -> bool:
    """Whether the exception event at `step` is one coming out of a callee."""
    if step < 2 or step - 2 < tl.first_step(tid):
        return False
    prev = tl.step(tid, step - 1)
    cur = tl.step(tid, step)
    if prev.kind != E.RETURN or prev.depth != cur.depth + 1:
        return False
    return tl.step(tid, step - 2).kind == E.EXCEPTION


def uncaught(tl: Timeline) -> tuple[int, int] | None:
    """Where the exception that ended the recording was raised, if one did:
    the trailing chain of exception and return events of a thread, innermost
    raise first."""
    if (tl.rec.end.get("reason") or "").find("exception") < 0:
        return None
    best: tuple[tuple[int, int], int, int] | None = None
    for tid in tl.thread_ids():
        last = tl.step_count(tid) - 1
        s = last
        raised = None
        while s >= tl.first_step(tid):
            st = tl.step(tid, s)
            if st.kind == E.EXCEPTION:
                raised = s
            elif st.kind != E.RETURN:
                break
            s -= 1
        if raised is not None:
            when = tl.when(tid, last)
            if best is None or when > best[0]:
                best = (when, tid, raised)
    return (best[1], best[2]) if best else None


def hits_before(tl: Timeline, key: int, ci: int, order: int) -> int:
    """How many times any thread executed line `key` up to (and including) the
    global point (ci, order)."""
    total = 0
    for c in range(ci):
        for counts in tl.summary(c).lines.values():
            total += counts.get(key, 0)
    sc = tl.scan(ci)
    for tid, ts in sc.threads.items():
        if key not in sc.summary.lines.get(tid, {}):
            continue
        for i in line_hits(ts, {key}, {key & 0xFFFFFF}):
            if ts.order[i] <= order:
                total += 1
    return total


def executions_near(tl: Timeline, keys: set[int], at: tuple[int, int],
                    limit: int) -> tuple[int, list[Candidate], int, Candidate | None,
                                         Candidate | None]:
    """The executions of lines `keys` (all threads) nearest the global point `at`: up to
    `limit` of them in order, about half before and half after it; also how many earlier
    and later ones were left out, and the nearest of those on each side (None if none):
    (earlier, listed, later, previous, next).  Only the chunks around `at` are scanned;
    the counts come from the chunk summaries."""
    finder = line_finder(tl, keys)
    counts = [sum(lines.get(k, 0) for lines in tl.summary(ci).lines.values() for k in keys)
              for ci in range(tl.nchunks)]
    ci0, order0 = at
    before: list[Candidate] = []  # nearest first, up to limit + 1
    ci = ci0
    at_or_before = sum(counts[:ci0])
    while ci >= 0 and len(before) <= limit:
        if counts[ci]:
            found = sorted(finder(ci), reverse=True)
            if ci == ci0:
                found = [c for c in found if c[0] <= order0]
                at_or_before += len(found)
            before.extend(found[:limit + 1 - len(before)])
        ci -= 1
    after: list[Candidate] = []  # nearest first, up to limit + 1
    ci = ci0
    while ci < tl.nchunks and len(after) <= limit:
        if counts[ci]:
            found = sorted(finder(ci))
            if ci == ci0:
                found = [c for c in found if c[0] > order0]
            after.extend(found[:limit + 1 - len(after)])
        ci += 1
    n_before = min(len(before), max(limit // 2, limit - len(after)))
    n_after = min(len(after), limit - n_before)
    listed = before[:n_before][::-1] + after[:n_after]
    earlier = at_or_before - n_before
    later = sum(counts) - at_or_before - n_after
    return (earlier, listed, later, before[n_before] if earlier else None,
            after[n_after] if later else None)
