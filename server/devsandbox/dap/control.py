"""A debug session's control endpoint: how the language server reads live state.

Every DAP session, once launched or attached, listens on a loopback port with a
random token and registers itself in the per-user runtime directory (see
``runtime``).  Methods (JSON-RPC):

- ``state``: running, paused (with the stopped thread and reason) or ended;
- ``frames``: the paused thread's stack (id, name, file, line);
- ``evaluate`` {expression, file?, line?, frameId?}: the value in the paused frame
  that belongs to ``file`` (debugpy evaluates it, context "hover");
- ``variables`` {frameId}: the locals of a paused frame;
- ``discover``: the agent's discovery report;
- ``globalValue`` {file, expression}: a module global (or attribute path) of the
  running program, read by the agent without pausing it (see agent/values.py);
- ``experiment`` {verb, params, pid?, timeout?}: the agent's ``experiment/<verb>`` (the
  command line's ``devsandbox experiment ... --session``);
- ``agent`` {method, params}: one of the recorder's agent methods
  (``AGENT_METHODS_FOR_LSP``), for the language server's commands.
The state of a session positioned in a recording (time travel) carries
``position`` {recording, thread, step}.
Notifications to connected clients: ``stateChanged`` with the new state.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import runtime
from ..errors import CannotHandle, InvalidRequest
from ..wire import jsonrpc

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger(__name__)

# agent methods the language server may call through ``agent`` (its code lens commands;
# hot reload and the scanner go through ``live``)
AGENT_METHODS_FOR_LSP = frozenset({
    "recorder/status", "recorder/start", "recorder/stop", "recorder/flush",
})


class ControlServer:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.token = secrets.token_urlsafe(24)
        self.server: Any = None
        self.entry: Path | None = None
        self.clients: set[jsonrpc.Connection] = set()

    async def start(self, config: dict[str, Any]) -> None:
        handlers = {"state": self.state, "frames": self.frames, "evaluate": self.evaluate,
                    "variables": self.variables, "discover": self.discover}
        handlers["globalValue"] = self.global_value  # for the language server's hover
        handlers["live"] = self.live  # devsandbox inspect|set|eval ... --session (dap/live.py)
        handlers["experiment"] = self.experiment  # devsandbox experiment ... --session
        handlers["agent"] = self.agent  # for the language server's commands
        self.server = await jsonrpc.serve(self.token, handlers, on_connection=self._track)
        host, port = self.server.sockets[0].getsockname()[:2]
        roots = {os.path.abspath(config.get("cwd") or os.getcwd())}
        for key in ("program",):
            if isinstance(config.get(key), str):
                roots.add(os.path.dirname(os.path.abspath(config[key])))
        self.entry = runtime.register_session(host, port, self.token, sorted(roots),
                                              config.get("program") or config.get("module"))

    def _track(self, conn: jsonrpc.Connection) -> None:
        self.clients.add(conn)

    def state_changed(self) -> None:
        state = self._state()
        for conn in list(self.clients):
            if conn.closed.is_set():
                self.clients.discard(conn)
            else:
                conn.notify("stateChanged", state)

    def _state(self) -> dict[str, Any]:
        s = self.session
        if s.ended:
            return {"state": "ended"}
        if s.stopped is not None:
            state = {"state": "paused", "threadId": s.stopped.get("threadId"),
                     "reason": s.stopped.get("reason")}
            pos = getattr(getattr(s, "timetravel", None), "pos", None)
            if pos is not None:  # in the past: where (for the language server's hover)
                state["position"] = {"recording": pos.tl.rec.path, "thread": pos.tid,
                                     "step": pos.step}
                state["recording"] = pos.tl.rec.path
            return state
        return {"state": "running", "agent": bool(s.hub and s.hub.agents)}

    async def state(self, params: Any) -> Any:
        return self._state()

    async def _debugpy(self, command: str, arguments: dict[str, Any]) -> Any:
        backend = self.session.backend
        if backend is None or backend.channel.closed:
            raise CannotHandle("the debug session has ended")
        response = await backend.channel.request(command, arguments)
        if not response.get("success"):
            raise CannotHandle(response.get("message") or f"{command} failed")
        return response.get("body") or {}

    def _paused_thread(self) -> int:
        stopped = self.session.stopped
        if stopped is None or stopped.get("threadId") is None:
            raise CannotHandle("the program is not paused")
        return int(stopped["threadId"])

    async def frames(self, params: Any) -> Any:
        body = await self._debugpy("stackTrace", {"threadId": self._paused_thread()})
        return [{"id": f["id"], "name": f["name"], "line": f["line"],
                 "file": (f.get("source") or {}).get("path")} for f in body["stackFrames"]]

    async def _frame_for(self, params: dict[str, Any]) -> int:
        if params.get("frameId") is not None:
            return int(params["frameId"])
        frames = await self.frames(None)
        wanted = params.get("file")
        for frame in frames:
            if not wanted or (frame["file"] and os.path.samefile(frame["file"], wanted)
                              if os.path.exists(wanted) and frame["file"]
                              and os.path.exists(frame["file"]) else frame["file"] == wanted):
                return int(frame["id"])
        raise CannotHandle(f"no paused frame in {wanted}")

    async def evaluate(self, params: Any) -> Any:
        params = params or {}
        expression = params.get("expression")
        if not isinstance(expression, str) or not expression.strip():
            raise InvalidRequest("evaluate needs an expression")
        frame_id = await self._frame_for(params)
        body = await self._debugpy("evaluate", {"expression": expression, "frameId": frame_id,
                                                "context": "hover"})
        return {"result": body.get("result"), "type": body.get("type"), "frameId": frame_id}

    async def variables(self, params: Any) -> Any:
        frame_id = await self._frame_for(params or {})
        scopes = (await self._debugpy("scopes", {"frameId": frame_id}))["scopes"]
        if not scopes:
            return []
        body = await self._debugpy("variables",
                                   {"variablesReference": scopes[0]["variablesReference"]})
        return [{"name": v["name"], "value": v["value"], "type": v.get("type")}
                for v in body["variables"]]

    async def discover(self, params: Any) -> Any:
        hub = self.session.hub
        if hub is None or not hub.agents:
            raise CannotHandle("no agent is connected to this session")
        return await hub.discover(timeout=30)

    async def global_value(self, params: Any) -> Any:
        from devsandbox.agent import wire

        params = params or {}
        if not isinstance(params.get("file"), str) or not isinstance(params.get("expression"), str):
            raise InvalidRequest("globalValue needs a file and an expression")
        hub = self.session.hub
        if hub is None or not hub.agents:
            raise CannotHandle("no agent is connected to this session")
        return await hub.call(wire.LOOKUP_VALUE, {"file": params["file"],
                                                  "expression": params["expression"]}, timeout=5)

    async def agent(self, params: Any) -> Any:
        params = params or {}
        method, arguments = params.get("method"), params.get("params")
        if method not in AGENT_METHODS_FOR_LSP:
            raise InvalidRequest(f"the agent method {method!r} is not available here")
        if arguments is not None and not isinstance(arguments, dict):
            raise InvalidRequest("agent params must be an object")
        hub = self.session.hub
        if hub is None or not hub.agents:
            raise CannotHandle("no agent is connected to this session")
        return await hub.call(method, dict(arguments or {}), timeout=30)

    async def live(self, params: Any) -> Any:
        """{verb, params, pid?}: the agent's live/<verb> (the command line's --session)."""
        from .live import call_from_control

        return await call_from_control(self.session, params)

    async def experiment(self, params: Any) -> Any:
        """{verb, params, pid?, timeout?}: the agent's experiment/<verb> (dap/experiments.py)."""
        from .experiments import call_from_control

        return await call_from_control(self.session, params)

    async def close(self) -> None:
        for conn in list(self.clients):
            conn.close()
        if self.server is not None:
            self.server.close()
        if self.entry is not None:
            runtime.unregister(self.entry)
            self.entry = None
