"""Random access to a recording for time travel: steps, stacks, summaries.

`Timeline(recording)` adds to the reader what navigation needs:

- `scan(ci)`: the chunk's compact per-step arrays (`chunks.ChunkScan`),
  decoded on demand and kept in a small LRU cache (`CACHE_CHUNKS`);
- `summary(ci)` / `summaries()`: per chunk and thread, the lines, calls,
  written names, exceptions and smallest depth, computed once per chunk (the
  first call of `summaries()` reads the whole recording once) and kept for
  all chunks: they let searches skip chunks;
- `stack(tid, step)`: every frame of a thread at a step, with its code, line
  and locals (decoded lazily from the chunk);
- positions: a step of a thread is `(tid, step)`; its place in the recorded
  order of all threads is `when(tid, step) = (chunk index, order in chunk)`;
- times (format 1.2): `clock(ci, tid)` dates the thread's calls and returns in
  a chunk (µs since the recording's clock origin), so that every recorded call
  has a start and a duration (see dap/travelquery.calls_of).

A live recording grows: `refresh()` reads the chunks appended since.
"""

from __future__ import annotations

import bisect
import collections
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import chunks, itemdiffs
from .chunks import ChunkScan, Summary, ThreadSteps
from .reader import CodeInfo, Recording

CACHE_CHUNKS = 1
"""Decoded chunks kept in memory (each about 8 bytes per step plus its payload)."""


@dataclass
class FrameState:
    """One frame of a thread's stack at a step."""

    fid: int
    code_id: int
    code: CodeInfo
    line: int
    spans: dict[int, tuple[int, int]]
    buf: bytes
    strings: list[str]

    def names(self) -> list[str]:
        return [self.strings[k] for k in self.spans]

    def locals(self) -> dict[str, str]:
        return {self.strings[k]: chunks.value_text(self.buf, span)[0]
                for k, span in self.spans.items()}

    def value(self, name: str) -> tuple[str, bool] | None:
        """(repr text, truncated) of a local, or None."""
        for k, span in self.spans.items():
            if self.strings[k] == name:
                return chunks.value_text(self.buf, span)
        return None

    def span_of(self, name: str) -> tuple[int, int] | None:
        for k, span in self.spans.items():
            if self.strings[k] == name:
                return span
        return None


@dataclass(frozen=True)
class Step:
    """What one step is (without its values)."""

    tid: int
    step: int
    kind: int  # format.E.CALL / LINE / RETURN / EXCEPTION
    code_id: int
    line: int
    depth: int
    fid: int


_allocator_tuned = False
_libc: Any = None


def _tune_allocator() -> None:
    """Have glibc map large blocks (decompressed chunks, step arrays) with mmap, always, so
    that they go back to the system when dropped instead of fragmenting the heap (its
    default threshold grows after the first large free)."""
    global _allocator_tuned, _libc
    if _allocator_tuned or not sys.platform.startswith("linux"):
        return
    _allocator_tuned = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        _libc = libc
    except (OSError, AttributeError):
        pass


def release_memory() -> None:
    """Give the heap's free pages back to the system (glibc keeps them otherwise), after
    work whose transient buffers would stay resident: a chunk scan dropped from the
    cache, a pass over the whole recording.  About 0.2 ms."""
    if _libc is not None:
        _libc.malloc_trim(0)


_tune_allocator()  # before any recording is read: a first large free would raise glibc's threshold


class Timeline:
    def __init__(self, rec: Recording) -> None:
        self.rec = rec
        self._cache: collections.OrderedDict[int, ChunkScan] = collections.OrderedDict()
        self._summaries: list[Summary | None] = [None] * len(rec._chunks)
        self._item_diffs = rec.minor >= 1 and bool(rec.meta.get("item_diffs"))

    # ---- chunks ---------------------------------------------------------------------

    @property
    def nchunks(self) -> int:
        return len(self.rec._chunks)

    def refresh(self) -> int:
        new = self.rec.refresh()
        self._summaries.extend([None] * (self.nchunks - len(self._summaries)))
        return new

    def scan(self, ci: int) -> ChunkScan:
        sc = self._cache.get(ci)
        if sc is not None:
            self._cache.move_to_end(ci)
            return sc
        evicted = len(self._cache) >= CACHE_CHUNKS
        while len(self._cache) >= CACHE_CHUNKS:  # before the scan: its memory is reused
            self._cache.popitem(last=False)
        sc = chunks.scan_chunk(self._events(ci), self.rec.strings)
        self._summaries[ci] = sc.summary
        self._cache[ci] = sc
        if evicted:
            release_memory()  # the dropped scan's pages, the scan's transient buffers
        return sc

    def drop_cache(self) -> None:
        """Forget the decoded chunk (before a pass over the whole recording, whose chunks
        are read one by one without being scanned: their buffers reuse its memory)."""
        self._cache.clear()

    def payload(self, ci: int) -> bytes:
        """The chunk's decompressed events (the cached scan's, or read again: no scan)."""
        cached = self._cache.get(ci)
        return cached.buf if cached is not None else self._events(ci)

    def _events(self, ci: int) -> bytes:
        """The chunk's decompressed events as the time-travel passes read them: with item
        diffs (format 1.1), each patch as a SET of the whole value (itemdiffs.as_sets)."""
        buf = self.rec._payload(self.rec._chunks[ci])
        return itemdiffs.as_sets(buf) if self._item_diffs else buf

    def summary(self, ci: int) -> Summary:
        s = self._summaries[ci]
        if s is None:
            cached = self._cache.get(ci)
            s = cached.summary if cached is not None else chunks.summarize_chunk(
                self._events(ci), self.rec.strings)
            self._summaries[ci] = s
        return s

    def summaries(self) -> list[Summary]:
        missing = None in self._summaries
        out = [self.summary(ci) for ci in range(self.nchunks)]
        if missing:
            release_memory()
        return out

    def clock(self, ci: int, tid: int) -> dict[int, int]:
        """{index of a step of `tid` in chunk `ci`: µs since the clock origin} for the steps a
        CLOCK record dates (calls, returns, the step after a pop); empty before format 1.2."""
        return chunks.clock_times(self.payload(ci), tid)

    @property
    def timed(self) -> bool:
        """The recording has call and return times (format 1.2, timings on)."""
        return bool(self.rec.meta.get("clock"))

    def chunk_first_event(self, ci: int) -> int:
        return self.rec._chunks[ci].first_event

    # ---- threads and steps --------------------------------------------------------------

    def thread_ids(self) -> list[int]:
        return sorted(self.rec._by_thread)

    def thread_name(self, tid: int) -> str:
        info = self.rec.threads.get(tid)
        return (info.name if info and info.name else None) or f"Thread {tid}"

    def chunks_of(self, tid: int) -> list[int]:
        return self.rec._by_thread.get(tid, ([], []))[1]

    def first_step(self, tid: int) -> int:
        steps = self.rec._by_thread.get(tid, ([], []))[0]
        return steps[0] if steps else 0

    def step_count(self, tid: int) -> int:
        """Steps of the thread recorded so far (its last step is this minus one)."""
        idx = self.chunks_of(tid)
        if not idx:
            return 0
        for t, first, n in self.rec._chunks[idx[-1]].threads:
            if t == tid:
                return first + n
        return 0

    def locate(self, tid: int, step: int) -> tuple[int, int]:
        """(chunk index, index of the step within the thread's steps in that chunk)."""
        steps, idx = self.rec._by_thread.get(tid, ([], []))
        i = bisect.bisect_right(steps, step) - 1
        if i < 0 or step >= self.step_count(tid):
            raise IndexError(f"thread {tid} has no step {step}")
        return idx[i], step - steps[i]

    def steps_in(self, ci: int, tid: int) -> ThreadSteps | None:
        return self.scan(ci).threads.get(tid)

    def step(self, tid: int, step: int) -> Step:
        ci, i = self.locate(tid, step)
        ts = self.scan(ci).threads[tid]
        return Step(tid, step, ts.kinds[i], ts.codes[i], ts.lines[i], ts.depths[i], ts.fids[i])

    def when(self, tid: int, step: int) -> tuple[int, int]:
        """The step's place in the order of all threads' steps."""
        ci, i = self.locate(tid, step)
        return ci, self.scan(ci).threads[tid].order[i]

    def last_step_before(self, tid: int, when: tuple[int, int]) -> int | None:
        """The last step of `tid` at or before the global point `when`."""
        ci, order = when
        idx = self.chunks_of(tid)
        j = bisect.bisect_right(idx, ci) - 1
        while j >= 0:
            ts = self.scan(idx[j]).threads.get(tid)
            if ts is not None:
                if idx[j] < ci:
                    return ts.last
                k = bisect.bisect_right(ts.order, order) - 1
                if k >= 0:
                    return ts.first + k
            j -= 1
        return None

    def code(self, code_id: int) -> CodeInfo:
        code = self.rec.codes[code_id]
        assert code is not None
        return code

    # ---- stacks -------------------------------------------------------------------------

    def stack(self, tid: int, step: int) -> list[FrameState]:
        """The thread's frames at `step`, innermost first."""
        return self.state(tid, step)[0]

    def event_value(self, tid: int, step: int) -> tuple[str, bool, str | None] | None:
        """(value text, truncated, exception type) of a return or exception step."""
        extra = self.state(tid, step)[1]
        if extra is None:
            return None
        ci, _ = self.locate(tid, step)
        text, cut = chunks.value_text(self.scan(ci).buf, extra[0])
        return text, cut, (self.rec.strings[extra[1]] if extra[1] else None)

    def state(self, tid: int, step: int) -> tuple[list[FrameState], chunks.Extra]:
        ci, i = self.locate(tid, step)
        sc = self.scan(ci)
        frames, extra = sc.state_at(tid, i)
        codes, strings = self.rec.codes, self.rec.strings
        out = []
        for f in reversed(frames):
            code = codes[f.code]
            assert code is not None
            out.append(FrameState(f.fid, f.code, code, f.line, f.values, sc.buf, strings))
        return out, extra

    # ---- iteration ------------------------------------------------------------------------

    def iter_back(self, tid: int, step: int) -> Iterator[tuple[ThreadSteps, int]]:
        """(steps of a chunk, index) for the thread's steps from `step` down to its first."""
        idx = self.chunks_of(tid)
        ci, i = self.locate(tid, step)
        j = idx.index(ci)
        while j >= 0:
            ts = self.scan(idx[j]).threads[tid]
            for k in range(i, -1, -1):
                yield ts, k
            j -= 1
            if j >= 0:
                i = len(self.scan(idx[j]).threads[tid]) - 1

    def iter_forward(self, tid: int, step: int) -> Iterator[tuple[ThreadSteps, int]]:
        """(steps of a chunk, index) for the thread's steps from `step` to its last."""
        idx = self.chunks_of(tid)
        ci, i = self.locate(tid, step)
        j = idx.index(ci)
        while j < len(idx):
            ts = self.scan(idx[j]).threads[tid]
            for k in range(i, len(ts)):
                yield ts, k
            j += 1
            i = 0
