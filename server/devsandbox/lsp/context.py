"""Where the developer is looking: the values behind a name, in the current context.

The context is, in this order:

1. a position in a recording: the step a debug session reports (reverse
   debugging) or the one chosen with ``devsandbox.recording.goto``;
2. the paused frame of a live debug session, in the function the cursor is in;
3. the running program's module globals, read by its agent without pausing it.

No pygls here: the features turn these results into LSP types.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

from ..errors import DevsandboxError
from ..recording.reader import FormatError
from . import source
from .recordings import Recordings, Snapshot, ValueHistory, snapshot_of
from .sessions import DebugSession, SessionRegistry

log = logging.getLogger(__name__)

PREFETCH_FRAMES = 5  # innermost frames whose locals are read when a session pauses
PREFETCH_SIZES = 8  # sizes of the innermost frame's containers read then
SIZED_TYPES = frozenset({"list", "tuple", "dict", "set", "frozenset", "str", "bytes", "bytearray",
                         "deque", "collections.deque", "OrderedDict", "defaultdict", "Counter"})


@dataclass
class Value:
    expression: str
    value: str
    type: str | None
    size: int | None
    where: str  # a short description of the context
    history: ValueHistory | None = None
    history_key: dict[str, Any] | None = None  # arguments of devsandbox.showHistory


@dataclass
class Frame:
    """A frame whose locals the inline values show."""

    file: str
    line: int  # 1-based, where it is stopped
    function: str | None
    locals: dict[str, str]
    where: str


def _same_file(a: str | None, b: str) -> bool:
    if not a:
        return False
    return os.path.realpath(a) == os.path.realpath(b)


def _function_name(text: str, line: int) -> str:
    fn = source.function_at(text, line)
    return fn.qualname if fn is not None else source_module_name()


def source_module_name() -> str:
    return "<module>"


class Context:
    def __init__(self, sessions: SessionRegistry, recordings: Recordings) -> None:
        self.sessions = sessions
        self.recordings = recordings
        self._frames: dict[tuple[int, int], tuple[Any, list[dict[str, Any]]]] = {}
        # (session, frame id) -> (state marker, {name: (value, type)}), and sizes by name
        self._locals: dict[tuple[tuple[int, int], int], tuple[Any, dict[str, tuple[str, Any]]]] = {}
        self._sizes: dict[tuple[tuple[int, int], int, str], tuple[Any, int | None]] = {}
        self._prefetching: dict[tuple[int, int], asyncio.Task[None]] = {}

    # -- positions in recordings ------------------------------------------------------------

    def snapshot(self) -> Snapshot | None:
        """The recording step the developer is positioned at, if any."""
        for session in self.sessions.all():
            position = session.position
            if position and isinstance(position.get("recording"), str):
                try:
                    return snapshot_of(position["recording"], int(position.get("thread") or 1),
                                       int(position["step"]))
                except (IndexError, OSError, ValueError, FormatError) as exc:
                    log.info("no snapshot at the session's position %s: %s", position, exc)
        return self.recordings.snapshot()

    # -- live frames ------------------------------------------------------------------------

    async def frames(self, session: DebugSession) -> list[dict[str, Any]]:
        """The paused thread's stack (cached until the session's state changes)."""
        marker = session.generation
        cached = self._frames.get(session.key)
        if cached is not None and cached[0] == marker:
            return cached[1]
        frames: list[dict[str, Any]] = await session.call("frames")
        self._frames[session.key] = (marker, frames)
        return frames

    def cached_locals(self, session: DebugSession,
                      frame_id: int) -> dict[str, tuple[str, Any]] | None:
        """The locals of a paused frame if they were read since the session last paused."""
        cached = self._locals.get((session.key, frame_id))
        return cached[1] if cached is not None and cached[0] == session.generation else None

    async def frame_locals(self, session: DebugSession, frame_id: int) -> dict[str, tuple[str, Any]]:
        cached = self.cached_locals(session, frame_id)
        if cached is not None:
            return cached
        marker = session.generation
        variables = await session.call("variables", {"frameId": frame_id})
        values = {str(v["name"]): (str(v["value"]), v.get("type")) for v in variables
                  if isinstance(v, dict) and str(v.get("name", "")).isidentifier()}
        self._locals[(session.key, frame_id)] = (marker, values)
        return values

    async def size(self, session: DebugSession, frame_id: int, expression: str) -> int | None:
        key = (session.key, frame_id, expression)
        cached = self._sizes.get(key)
        if cached is not None and cached[0] == session.generation:
            return cached[1]
        marker = session.generation
        try:
            answer = await session.call("evaluate", {"expression": f"len({expression})",
                                                     "frameId": frame_id})
            size: int | None = int(answer.get("result"))
        except (DevsandboxError, TypeError, ValueError):
            size = None
        self._sizes[key] = (marker, size)
        return size

    def session_changed(self, session: DebugSession) -> None:
        """Forget what was read from ``session``; when it paused, read its frames' locals
        ahead of the editor's requests (debugpy takes tens of ms per request while paused)."""
        self.forget(session)
        if session.paused:
            self._prefetching[session.key] = asyncio.ensure_future(self._prefetch(session))

    async def _prefetch(self, session: DebugSession) -> None:
        try:
            frames = await self.frames(session)
            for i, frame in enumerate(frames[:PREFETCH_FRAMES]):
                values = await self.frame_locals(session, int(frame["id"]))
                if i == 0:
                    sized = [n for n, (_, t) in values.items() if t in SIZED_TYPES]
                    for name in sized[:PREFETCH_SIZES]:
                        await self.size(session, int(frame["id"]), name)
        except DevsandboxError as exc:
            log.debug("prefetching %r stopped: %s", session, exc)
        except asyncio.CancelledError:
            pass

    async def _frame_in_function(self, session: DebugSession, file: str, text: str,
                                 line: int) -> dict[str, Any] | None:
        """The innermost paused frame in ``file`` that runs the function holding ``line``."""
        wanted = source.function_at(text, line)
        for frame in await self.frames(session):
            if not _same_file(frame.get("file"), file):
                continue
            if source.function_at(text, int(frame["line"])) == wanted:
                return frame
        return None

    # -- hover ------------------------------------------------------------------------------

    async def value(self, file: str, text: str, expr: source.Expression) -> Value | None:
        line = expr.line + 1
        function = _function_name(text, line)
        found = self._past_value(file, text, expr, function)
        if found is None:
            found = await self._live_value(file, text, expr)
        if found is None and expr.is_name:
            found = self._last_recorded(file, function, expr.text)
        if found is not None and expr.is_name:
            self._add_history(found, file, function, expr.text)
        return found

    def _last_recorded(self, file: str, function: str, name: str) -> Value | None:
        """With no live value: the last value the recording saw."""
        index = self.recordings.current
        history = index.history(file, function, name) if index is not None else None
        if history is None or not history.recent:
            return None
        _thread, step, _line, value = history.recent[-1]
        return Value(name, value, None, None,
                     f"last value in the recording (step {step:,})")

    def _past_value(self, file: str, text: str, expr: source.Expression,
                    function: str) -> Value | None:
        snap = self.snapshot()
        if snap is None or not _same_file(snap.file, file) or snap.function != function:
            return None
        if not expr.is_name or expr.text not in snap.locals:
            return None
        return Value(expr.text, snap.locals[expr.text], None, None,
                     f"step {snap.step:,} of the recording (thread {snap.thread}, "
                     f"line {snap.line})")

    async def _live_value(self, file: str, text: str, expr: source.Expression) -> Value | None:
        for session in self.sessions.for_file(file):
            if session.position is not None:
                continue  # in the past: its live frames are not where the developer is
            try:
                if session.paused:
                    found = await self._paused_value(session, file, text, expr)
                    if found is not None:
                        return found
                found = await self._global_value(session, file, text, expr)
                if found is not None:
                    return found
            except DevsandboxError as exc:
                log.info("no value of %s from %r: %s", expr.text, session, exc)
        return None

    async def _paused_value(self, session: DebugSession, file: str, text: str,
                            expr: source.Expression) -> Value | None:
        frame = await self._frame_in_function(session, file, text, expr.line + 1)
        if frame is None:
            return None
        frame_id = int(frame["id"])
        local = None
        if expr.is_name:
            local = (self.cached_locals(session, frame_id) or {}).get(expr.text)
        if local is not None:
            value, type_ = local
        else:
            answer = await session.call("evaluate", {"expression": expr.text, "frameId": frame_id})
            value, type_ = str(answer.get("result")), answer.get("type")
        size = await self.size(session, frame_id, expr.text) if type_ in SIZED_TYPES else None
        return Value(expr.text, value, type_, size,
                     f"paused in `{frame['name']}` (line {frame['line']})")

    async def _global_value(self, session: DebugSession, file: str, text: str,
                            expr: source.Expression) -> Value | None:
        head = expr.text.split(".")[0]
        if head in source.local_names(text, source.function_at(text, expr.line + 1)):
            return None  # a local of the function here: the module global is not it
        answer = await session.call("globalValue", {"file": file, "expression": expr.text})
        if not isinstance(answer, dict) or not answer.get("found"):
            return None
        state = "paused" if session.paused else "running"
        return Value(expr.text, str(answer.get("value")), answer.get("type"), answer.get("size"),
                     f"module global of the {state} program")

    def _add_history(self, found: Value, file: str, function: str, name: str) -> None:
        index = self.recordings.current
        if index is None:
            return
        history = index.history(file, function, name)
        if history is not None:
            found.history = history
            found.history_key = {"recording": index.path, "file": os.path.realpath(file),
                                 "function": function, "name": name}

    # -- inline values ------------------------------------------------------------------------

    async def frame_for(self, file: str, frame_id: int | None = None) -> Frame | None:
        """The current frame in ``file``: at the recording position, else the innermost
        paused frame there (the editor's frame when it names one of ours)."""
        snap = self.snapshot()
        if snap is not None:
            if _same_file(snap.file, file):
                return Frame(file, snap.line, snap.function, snap.locals,
                             f"step {snap.step:,}")
            return None
        for session in self.sessions.for_file(file):
            if not session.paused or session.position is not None:
                continue
            try:
                frames = [f for f in await self.frames(session) if _same_file(f.get("file"), file)]
                if not frames:
                    continue
                chosen = next((f for f in frames if f["id"] == frame_id), frames[0])
                variables = await self.frame_locals(session, int(chosen["id"]))
            except DevsandboxError as exc:
                log.info("no frame in %s from %r: %s", file, session, exc)
                continue
            values = {name: value for name, (value, _) in variables.items()}
            return Frame(file, int(chosen["line"]), chosen.get("name"), values,
                         f"paused in {chosen.get('name')}")
        return None

    def forget(self, session: DebugSession) -> None:
        self._frames.pop(session.key, None)
        task = self._prefetching.pop(session.key, None)
        if task is not None:
            task.cancel()
        self._locals = {k: v for k, v in self._locals.items() if k[0] != session.key}
        self._sizes = {k: v for k, v in self._sizes.items() if k[0] != session.key}
