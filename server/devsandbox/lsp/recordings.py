"""What the language server needs from a recording, behind one small interface.

``RecordingIndex`` answers, per source file: call counts, durations (recordings
with timings, format 1.2), the last call and exceptions per function, exceptions at the lines where they were raised (with the locals),
and the history of each local's value; and the locals at one step
(``snapshot``), for hover and inline values while positioned in the past.

The index is built by one pass over the recording's events with the reader
(``devsandbox.recording.reader``), in a separate process
(``python -m devsandbox.lsp.recordings index FILE``) so that the language
server keeps answering while a large recording is read; the result is a
JSON document.  ``Recordings`` picks the current recording of the workspace:
one a debug session reports, else one opened with a command, else the newest
``.devsandbox/recordings/*.dsrec`` of a workspace folder (where
``devsandbox record`` writes).  No pygls here.
"""

from __future__ import annotations

import asyncio
import collections
import glob
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

HISTORY_KEEP = 200  # most recent changes kept per variable
DURATIONS_KEEP = 1001  # durations kept per function: its quantiles when it has more calls
RECENT = 5  # changes shown in a hover
MAX_EXCEPTION_SITES = 500
GENERATOR_FLAGS = 0x20 | 0x80 | 0x200  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR
MODULE = "<module>"
QUIET = 0.3  # seconds without writes before a recording is indexed
REINDEX_MIN = 5.0  # a recording that keeps growing is indexed again at most this often...
REINDEX_FACTOR = 3.0  # ... and at most every 3 times as long as its last index took


@dataclass
class FunctionStats:
    file: str
    qualname: str
    first_line: int
    calls: int = 0
    raised: int = 0  # exceptions raised in this function (where they started)
    durations_ms: list[float] | None = None  # when the recording has timings (sorted)
    last_call: list[int] | None = None  # [thread, step] of its last call event (replayable)

    def percentile(self, p: float) -> float | None:
        if not self.durations_ms:
            return None
        ordered = sorted(self.durations_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _quantiles(values: list[float], keep: int = DURATIONS_KEEP) -> list[float]:
    """`values` sorted; more than `keep` of them become `keep` evenly spaced quantiles, which
    give the same nearest-rank percentiles at every 1/(keep - 1) step (p50, p95...)."""
    values.sort()
    n = len(values)
    if n <= keep:
        return values
    return [values[round(i * (n - 1) / (keep - 1))] for i in range(keep)]


@dataclass
class RaisedException:
    file: str
    line: int
    function: str
    exc_type: str
    value: str
    count: int
    thread: int
    step: int  # the first time
    locals: dict[str, str]
    last_step: int = 0


@dataclass
class ValueHistory:
    changes: int
    last_thread: int
    last_step: int
    recent: list[tuple[int, int, int, str]]  # (thread, step, line, value), oldest first


@dataclass
class Snapshot:
    """The top frame at one step of a recording."""

    recording: str
    thread: int
    step: int
    kind: str
    file: str | None
    line: int
    function: str | None
    first_line: int
    locals: dict[str, str]


@dataclass
class RecordingIndex:
    path: str
    mtime: float
    size: int
    events: int
    complete: bool
    functions: dict[str, list[FunctionStats]] = field(default_factory=dict)
    exceptions: dict[str, list[RaisedException]] = field(default_factory=dict)
    histories: dict[str, dict[str, dict[str, ValueHistory]]] = field(default_factory=dict)
    """file -> function qualname -> variable -> history."""
    # -- queries ----------------------------------------------------------------------------

    def functions_in(self, file: str) -> list[FunctionStats]:
        return self.functions.get(os.path.realpath(file), [])

    def function(self, file: str, qualname: str, first_line: int) -> FunctionStats | None:
        candidates = [f for f in self.functions_in(file) if f.qualname == qualname]
        if len(candidates) > 1:
            exact = [f for f in candidates if f.first_line == first_line]
            candidates = exact or candidates
        return candidates[0] if candidates else None

    def exceptions_in(self, file: str) -> list[RaisedException]:
        return self.exceptions.get(os.path.realpath(file), [])

    def history(self, file: str, function: str, name: str) -> ValueHistory | None:
        return self.histories.get(os.path.realpath(file), {}).get(function, {}).get(name)

    def snapshot(self, thread: int, step: int) -> Snapshot:
        """The top frame's locals at ``step`` of ``thread`` (decodes one chunk; cached)."""
        return snapshot_of(self.path, thread, step)

    # -- JSON ------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "mtime": self.mtime, "size": self.size, "events": self.events,
            "complete": self.complete,
            "functions": {f: [vars(s) for s in v] for f, v in self.functions.items()},
            "exceptions": {f: [vars(e) for e in v] for f, v in self.exceptions.items()},
            "histories": {f: {fn: {n: vars(h) for n, h in names.items()}
                              for fn, names in fns.items()}
                          for f, fns in self.histories.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordingIndex:
        index = cls(data["path"], data["mtime"], data["size"], data["events"], data["complete"])
        index.functions = {f: [FunctionStats(**s) for s in v]
                           for f, v in data["functions"].items()}
        index.exceptions = {f: [RaisedException(**e) for e in v]
                            for f, v in data["exceptions"].items()}
        index.histories = {
            f: {fn: {n: ValueHistory(h["changes"], h["last_thread"], h["last_step"],
                                     [(r[0], r[1], r[2], r[3]) for r in h["recent"]])
                     for n, h in names.items()} for fn, names in fns.items()}
            for f, fns in data["histories"].items()}
        return index


_snapshots: collections.OrderedDict[tuple[str, int, int], Snapshot] = collections.OrderedDict()


def snapshot_of(path: str, thread: int, step: int) -> Snapshot:
    """The top frame at ``step`` of ``thread`` in the recording at ``path``, without an index
    (the reader decodes one chunk); the last few are cached (a recorded step never changes,
    even while the recording grows)."""
    key = (os.path.abspath(path), thread, step)
    cached = _snapshots.get(key)
    if cached is not None:
        _snapshots.move_to_end(key)
        return cached
    from ..recording.reader import Recording

    with Recording(path) as rec:
        ev = rec.event_at(thread, step)
    code = ev.code
    snap = Snapshot(key[0], thread, step, ev.kind,
                    os.path.realpath(code.file) if code else None, ev.line,
                    code.qualname if code else None, code.firstlineno if code else 0,
                    dict(ev.locals))
    _snapshots[key] = snap
    while len(_snapshots) > 64:
        _snapshots.popitem(last=False)
    return snap


# -- building the index (in the indexing process) ---------------------------------------------


def build_index(path: str) -> RecordingIndex:
    """One pass over the events of the recording at ``path``."""
    from ..recording.reader import Recording

    path = os.path.abspath(path)
    stat = os.stat(path)
    real: dict[str, str] = {}
    calls: dict[tuple[str, str, int], FunctionStats] = {}
    gen_frames: dict[tuple[str, str, int], set[tuple[int, int]]] = {}
    # durations: from call to return event (a generator's or coroutine's: each run, from a
    # start or resume to its yield or return)
    durations: dict[tuple[str, str, int], list[float]] = {}
    sites: dict[tuple[str, int, str, str], RaisedException] = {}
    histories: dict[tuple[str, str, str], list[Any]] = {}
    previous: dict[tuple[int, int], dict[str, str]] = {}  # (thread, frame) -> locals
    pending: dict[int, tuple[str | None, str | None, int]] = {}  # thread -> last exception
    count = 0
    with Recording(path) as rec:
        complete = rec.complete
        for ev in rec.events():
            count += 1
            code = ev.code
            if code is None:
                continue
            file = real.get(code.file)
            if file is None:
                file = real[code.file] = os.path.realpath(code.file)
            key = (file, code.qualname, code.firstlineno)
            fkey = (ev.thread, ev.frame)
            kind = ev.kind
            if kind == "call":
                pending.pop(ev.thread, None)
                stats = calls.get(key)
                if stats is None:
                    stats = calls[key] = FunctionStats(file, code.qualname, code.firstlineno)
                if code.flags & GENERATOR_FLAGS:
                    seen = gen_frames.setdefault(key, set())
                    if fkey not in seen:
                        seen.add(fkey)
                        stats.calls += 1
                else:
                    stats.calls += 1
                    stats.last_call = [ev.thread, ev.step]
            elif kind == "line":
                pending.pop(ev.thread, None)
            elif kind == "exception":
                last = pending.get(ev.thread)
                propagated = (last is not None and last[0] == ev.exc_type
                              and last[1] == ev.value and last[2] > ev.depth)
                pending[ev.thread] = (ev.exc_type, ev.value, ev.depth)
                if not propagated:
                    _raised(calls, sites, key, file, ev)
            _changes(histories, previous, (file, code.qualname), fkey, ev)
            if kind == "return":
                previous.pop(fkey, None)
                if ev.duration_us is not None:
                    durations.setdefault(key, []).append(ev.duration_us / 1000)
    for key, values in durations.items():
        if key in calls:
            calls[key].durations_ms = _quantiles(values)
    index = RecordingIndex(path, stat.st_mtime, stat.st_size, count, complete)
    for stats in calls.values():
        index.functions.setdefault(stats.file, []).append(stats)
    for site in sites.values():
        index.exceptions.setdefault(site.file, []).append(site)
    for (file, function, name), (changes, recent) in histories.items():
        last = recent[-1]
        index.histories.setdefault(file, {}).setdefault(function, {})[name] = ValueHistory(
            changes, last[0], last[1], list(recent))
    return index


def _raised(calls: dict[tuple[str, str, int], FunctionStats],
            sites: dict[tuple[str, int, str, str], RaisedException],
            key: tuple[str, str, int], file: str, ev: Any) -> None:
    stats = calls.get(key)
    if stats is None:
        stats = calls[key] = FunctionStats(file, key[1], key[2])
    stats.raised += 1
    site_key = (file, ev.line, ev.code.qualname, ev.exc_type or "?")
    site = sites.get(site_key)
    if site is None:
        if len(sites) >= MAX_EXCEPTION_SITES:
            return
        sites[site_key] = RaisedException(file, ev.line, ev.code.qualname, ev.exc_type or "?",
                                          ev.value or "", 1, ev.thread, ev.step,
                                          dict(ev.locals), ev.step)
    else:
        site.count += 1
        site.last_step = ev.step


def _changes(histories: dict[tuple[str, str, str], list[Any]],
             previous: dict[tuple[int, int], dict[str, str]], where: tuple[str, str],
             fkey: tuple[int, int], ev: Any) -> None:
    before = previous.get(fkey)
    now = ev.locals
    if before is not None and before is not now and len(before) == len(now) and before == now:
        return
    for name, value in now.items():
        if before is None or before.get(name) != value:
            entry = histories.get((where[0], where[1], name))
            if entry is None:
                entry = histories[(where[0], where[1], name)] = [
                    0, collections.deque(maxlen=HISTORY_KEEP)]
            entry[0] += 1
            entry[1].append((ev.thread, ev.step, ev.line, value))
    previous[fkey] = now


# -- choosing and loading the current recording -------------------------------------------------


class Recordings:
    """The workspace's current recording and its index (built in a subprocess)."""

    def __init__(self, on_change: Callable[[RecordingIndex | None], None] | None = None) -> None:
        self.on_change = on_change
        self.workspace_roots: list[str] = []
        self.opened: str | None = None  # by a command or the initialization options
        self.from_session: str | None = None  # a debug session's recording
        self.current: RecordingIndex | None = None
        self.position: tuple[int, int] | None = None  # (thread, step) chosen by a command
        self.closed = False  # the user closed the recordings (until one is opened)
        self._indexed: dict[str, tuple[float, float]] = {}  # path -> (when, seconds it took)
        self._building: asyncio.Task[None] | None = None
        self._building_key: tuple[str, float, int] | None = None
        self._failed: tuple[str, float, int] | None = None

    def candidate(self) -> str | None:
        if self.closed:
            return None
        for path in (self.from_session, self.opened):
            if path and os.path.isfile(path):
                return os.path.abspath(path)
        newest: tuple[float, str] | None = None
        for root in self.workspace_roots:
            for path in glob.glob(os.path.join(root, ".devsandbox", "recordings", "*.dsrec")):
                try:
                    mtime = os.path.getmtime(path)
                except OSError:
                    continue
                if newest is None or mtime > newest[0]:
                    newest = (mtime, path)
        return newest[1] if newest else None

    async def refresh(self, wait: bool = False) -> None:
        """Follow the candidate recording: (re)index it when it is new or changed; forget it
        when it is gone.  A recording still being written is indexed once it is quiet for
        a moment, or again when the last index is old (see ``_due``); ``wait``: now."""
        path = self.candidate()
        if path is None:
            if self.current is not None:
                self._set(None)
            return
        try:
            stat = os.stat(path)
        except OSError:
            return
        key = (path, stat.st_mtime, stat.st_size)
        current = self.current
        if current is not None and (current.path, current.mtime, current.size) == key:
            return
        if key == self._building_key and self._building is not None:
            await asyncio.shield(self._building)
            return
        if key == self._failed:
            return
        if not wait and not self._due(path, stat.st_mtime):
            return
        self._building_key = key
        self._building = asyncio.ensure_future(self._build(key))
        await asyncio.shield(self._building)

    def _due(self, path: str, mtime: float) -> bool:
        """Index now?  Yes once the file has been quiet for QUIET seconds; while it keeps
        growing (a live session records), at most every REINDEX_FACTOR times as long as the
        last index took (and at least every REINDEX_MIN seconds)."""
        if time.time() - mtime >= QUIET:
            return True
        last = self._indexed.get(path)
        if last is None:
            return False
        finished, took = last
        return time.monotonic() - finished >= max(REINDEX_MIN, REINDEX_FACTOR * took)

    async def _build(self, key: tuple[str, float, int]) -> None:
        started = time.monotonic()
        try:
            index = await index_in_subprocess(key[0])
        except Exception as exc:  # noqa: BLE001  (any failure: say so, try the next one)
            log.warning("cannot index the recording %s: %s", key[0], exc)
            self._failed = key
            return
        finally:
            self._building_key = None
            self._indexed[key[0]] = (time.monotonic(), time.monotonic() - started)
        self._set(index)

    def _set(self, index: RecordingIndex | None) -> None:
        log.info("current recording: %s", index.path if index else None)
        if index is None or self.current is None or index.path != self.current.path:
            self.position = None
        self.current = index
        if self.on_change is not None:
            self.on_change(index)

    def snapshot(self) -> Snapshot | None:
        if self.current is None or self.position is None:
            return None
        try:
            return self.current.snapshot(*self.position)
        except (IndexError, OSError, ValueError) as exc:
            log.info("no snapshot at %s: %s", self.position, exc)
            return None


async def index_in_subprocess(path: str, timeout: float = 600.0) -> RecordingIndex:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devsandbox.lsp.recordings", "index", path,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(err.decode(errors="replace").strip().splitlines()[-1:] or
                           f"exit code {proc.returncode}")
    return RecordingIndex.from_json(json.loads(out))


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "index":
        sys.stderr.write("usage: python -m devsandbox.lsp.recordings index FILE\n")
        return 2
    index = build_index(argv[1])
    sys.stdout.write(json.dumps(index.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
