"""The workspace's debug sessions, as the language server sees them.

Every ``devsandbox dap`` session registers its control endpoint in the per-user
runtime directory (``devsandbox.runtime``).  The registry lists that directory
(stale entries are removed by ``runtime.sessions()``), connects to the sessions
whose roots overlap the workspace, keeps their last known state up to date from
their ``stateChanged`` notifications, and tells the server when something
changed so it can ask the editor to refresh inline values, code lenses and
diagnostics.  No pygls here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from .. import runtime
from ..errors import DevsandboxError
from ..wire import jsonrpc

log = logging.getLogger(__name__)

ChangeCallback = Callable[["DebugSession", str], None]
"""Called with the session and what happened: "added", "state" or "gone"."""

CONNECT_TIMEOUT = 2.0
CALL_TIMEOUT = 5.0


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def is_under(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


class DebugSession:
    """One live debug session's control endpoint."""

    def __init__(self, entry: dict[str, Any], conn: jsonrpc.Connection) -> None:
        self.entry = entry
        self.key = session_key(entry)
        self.pid = int(entry.get("pid") or 0)
        self.roots = [_real(r) for r in entry.get("roots") or [] if isinstance(r, str)]
        program = entry.get("program")
        self.program = _real(program) if isinstance(program, str) and os.path.isabs(program) \
            else None
        self.conn = conn
        self._state: dict[str, Any] = {"state": "unknown"}
        self.generation = 0
        """Changes with every state change: what was read from the session before is stale."""

    @property
    def state(self) -> dict[str, Any]:
        return self._state

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        self._state = value
        self.generation += 1

    def __repr__(self) -> str:
        return f"<DebugSession pid={self.pid} {self.state.get('state')} roots={self.roots}>"

    @property
    def paused(self) -> bool:
        return self.state.get("state") == "paused"

    @property
    def running(self) -> bool:
        return self.state.get("state") == "running"

    @property
    def ended(self) -> bool:
        return self.state.get("state") == "ended" or self.conn.closed.is_set()

    @property
    def position(self) -> dict[str, Any] | None:
        """Where the session is in a recording, when it reports one (reverse debugging):
        ``{"recording": path, "thread": n, "step": n}`` in its state."""
        position = self.state.get("position")
        return position if isinstance(position, dict) and "step" in position else None

    def covers(self, path: str) -> bool:
        path = _real(path)
        return path == self.program or any(is_under(path, root) for root in self.roots)

    async def call(self, method: str, params: Any = None, timeout: float = CALL_TIMEOUT) -> Any:
        return await self.conn.call(method, params, timeout)

    async def agent(self, method: str, params: dict[str, Any] | None = None,
                    timeout: float = 35.0) -> Any:
        """A recorder method of the agent, through the session (dap/control.py ``agent``)."""
        return await self.conn.call("agent", {"method": method, "params": params or {}}, timeout)

    async def live(self, verb: str, params: dict[str, Any] | None = None,
                   timeout: float = 35.0) -> Any:
        """The agent's ``live/<verb>`` (hot reload, scan...), as the client "lsp"."""
        return await self.conn.call("live", {"verb": verb, "params": dict(
            params or {}, client="lsp")}, timeout)


def session_key(entry: dict[str, Any]) -> tuple[int, int]:
    return int(entry.get("pid") or 0), int(entry.get("port") or 0)


class SessionRegistry:
    def __init__(self, on_change: ChangeCallback | None = None) -> None:
        self.on_change = on_change
        self.sessions: dict[tuple[int, int], DebugSession] = {}
        self.workspace_roots: list[str] = []
        self._refused: dict[tuple[int, int], float] = {}  # entries we failed to connect to
        self._last_refresh = 0.0
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None

    def set_workspace(self, roots: list[str]) -> None:
        self.workspace_roots = sorted({_real(r) for r in roots})

    def relevant(self, entry: dict[str, Any]) -> bool:
        """A session belongs to the workspace when one of its roots overlaps a workspace folder."""
        if entry.get("kind") != "dap-session":
            return False
        if not self.workspace_roots:
            return True
        roots = [_real(r) for r in entry.get("roots") or [] if isinstance(r, str)]
        return any(is_under(r, w) or is_under(w, r) for r in roots for w in self.workspace_roots)

    async def refresh(self, max_age: float = 0.0) -> None:
        """Re-read the runtime directory (unless it was read less than ``max_age`` s ago)."""
        if self._lock.locked():
            async with self._lock:  # one is under way: its answer is fresh enough
                return
        if max_age and time.monotonic() - self._last_refresh < max_age:
            return
        async with self._lock:
            self._last_refresh = time.monotonic()
            try:
                entries = [e for e in runtime.sessions() if self.relevant(e)]
            except OSError as exc:
                log.warning("cannot read the runtime directory: %s", exc)
                return
            live = {session_key(e): e for e in entries}
            for key, session in list(self.sessions.items()):
                if key not in live or session.conn.closed.is_set():
                    self._drop(key)
            for key, entry in live.items():
                if key not in self.sessions and self._refused.get(key, 0) < time.monotonic():
                    await self._connect(key, entry)

    async def _connect(self, key: tuple[int, int], entry: dict[str, Any]) -> None:
        holder: list[DebugSession] = []

        def notified(method: str, params: Any) -> None:
            if method == "stateChanged" and holder and isinstance(params, dict):
                holder[0].state = params
                self._changed(holder[0], "state")

        try:
            conn = await jsonrpc.connect(entry["host"], int(entry["port"]), entry["token"],
                                         on_notification=notified, timeout=CONNECT_TIMEOUT)
        except (TimeoutError, OSError, DevsandboxError, KeyError, ValueError) as exc:
            log.info("cannot connect to the debug session %s: %s", key, exc)
            self._refused[key] = time.monotonic() + 5.0
            return
        session = DebugSession(entry, conn)
        holder.append(session)
        try:
            session.state = await session.call("state")
        except (DevsandboxError, OSError) as exc:
            log.info("debug session %s did not report its state: %s", key, exc)
            conn.close()
            self._refused[key] = time.monotonic() + 5.0
            return
        self.sessions[key] = session
        log.info("connected to %r", session)
        asyncio.ensure_future(self._watch_close(session))
        self._changed(session, "added")

    async def _watch_close(self, session: DebugSession) -> None:
        await session.conn.closed.wait()
        if self.sessions.get(session.key) is session:
            self._drop(session.key)

    def _drop(self, key: tuple[int, int]) -> None:
        session = self.sessions.pop(key, None)
        if session is None:
            return
        session.conn.close()
        session.state = {"state": "ended"}
        log.info("debug session %s is gone", key)
        self._changed(session, "gone")

    def _changed(self, session: DebugSession, what: str) -> None:
        if self.on_change is not None:
            try:
                self.on_change(session, what)
            except Exception:
                log.exception("session change handler failed")

    def for_file(self, path: str) -> list[DebugSession]:
        """Live sessions whose roots cover ``path``: paused ones first, then running ones."""
        found = [s for s in self.sessions.values() if not s.ended and s.covers(path)]
        order = {"paused": 0, "running": 1}
        return sorted(found, key=lambda s: order.get(str(s.state.get("state")), 2))

    def all(self) -> list[DebugSession]:
        return [s for s in self.sessions.values() if not s.ended]

    def start_watching(self, interval: float = 1.0) -> None:
        if self._watcher is None:
            self._watcher = asyncio.ensure_future(self._watch(interval))

    async def _watch(self, interval: float) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing the debug sessions failed")
            await asyncio.sleep(interval)

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        for key in list(self.sessions):
            session = self.sessions.pop(key)
            session.conn.close()
