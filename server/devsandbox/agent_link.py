"""The server's end of the agent channel: a typed asyncio facade over jsonrpc-base.

``AgentHub`` owns every agent connection of one session, in both directions:

- launch and attach-by-pid: ``listen()``, then the agent connects and says
  hello with the token (``launch_env()`` gives a launched program what it needs);
  child processes' agents connect to the same listener and name their parent;
- embedded: ``connect()`` to an agent that listens in the program, with
  reconnection (exponential backoff) when the connection is lost.

Protocol (Content-Length framed JSON-RPC 2.0, hello handshake, token): see
``devsandbox.agent.wire``.  This is the only module that imports jsonrpc_base.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import jsonrpc_base  # type: ignore[import-untyped]

from devsandbox.agent import wire

from . import runtime
from .errors import CannotHandle, InvalidRequest, PeerGone
from .log import WIRE
from .wire.framing import FrameError, FrameParser, encode

log = logging.getLogger(__name__)

StateCallback = Callable[[str, str], None]
NotificationCallback = Callable[[int, str, Any], None]

DISCONNECTED, CONNECTING, CONNECTED, ERROR = "disconnected", "connecting", "connected", "error"
AGENT_DISCONNECTED = (
    "agent/disconnected"  # hub event (not on the wire): an agent's connection ended
)
HANDSHAKE_TIMEOUT = 10.0
BOOTSTRAP_PREFIX = "devsandbox-agent-"  # + server pid + "-": the launch bootstrap directories
BACKOFF_MIN, BACKOFF_MAX = 0.25, 5.0

ERR_METHOD_NOT_FOUND = -32601
ERR_INVALID_PARAMS = -32602


class _Peer(jsonrpc_base.Server):  # type: ignore[misc]
    """jsonrpc-base over our framing: a sent request returns a future its response resolves."""

    def __init__(self, writer: asyncio.StreamWriter, name: str) -> None:
        super().__init__()
        self._writer = writer
        self._name = name
        self._pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    def send_message(self, message: Any) -> asyncio.Future[dict[str, Any]] | None:
        body = message.serialize().encode("utf-8")
        WIRE.debug("-> agent %s: %s", self._name, body[:2000])
        if not self._writer.is_closing():
            self._writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        if isinstance(message, jsonrpc_base.Request) and message.msg_id is not None:
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending[message.msg_id] = future
            return future
        return None

    def request(self, method: str, params: Any) -> tuple[Any, asyncio.Future[dict[str, Any]]]:
        req = jsonrpc_base.Request(method, params, next(self._ids))
        future = self.send_message(req)
        assert future is not None
        return req, future

    def resolve(self, message: dict[str, Any]) -> bool:
        future = self._pending.pop(message.get("id"), None)
        if future is None or future.done():
            return False
        future.set_result(message)
        return True

    def fail_all(self, error: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)


class _Frames:
    """Messages from a StreamReader, through the shared Content-Length parser."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._parser = FrameParser()
        self._ready: list[dict[str, Any]] = []

    async def next(self) -> dict[str, Any] | None:
        while not self._ready:
            try:
                data = await self._reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                return None
            for item in self._parser.feed(data):
                if isinstance(item, FrameError):
                    raise ValueError(item.describe())
                self._ready.append(item)
        return self._ready.pop(0)


class AgentConnection:
    """One agent (one process), after a successful hello."""

    def __init__(
        self, hub: AgentHub, frames: _Frames, writer: asyncio.StreamWriter, info: dict[str, Any]
    ) -> None:
        self.hub = hub
        self.info = info
        self.pid: int = int(info.get("pid") or 0)
        parent = info.get("parent")
        self.parent: int | None = parent if isinstance(parent, int) else None
        self._frames = frames
        self._writer = writer
        self._peer = _Peer(writer, str(self.pid))
        self.closed = asyncio.Event()
        self._reader_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<AgentConnection pid={self.pid} parent={self.parent}>"

    def start(self) -> None:
        self._reader_task = asyncio.create_task(self._read_loop(), name=f"agent {self.pid} reader")

    async def call(self, method: str, params: Any = None, timeout: float = 10.0) -> Any:
        if self.closed.is_set():
            raise PeerGone(f"the agent in process {self.pid} is gone")
        req, future = self._peer.request(method, params)
        try:
            answer = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._peer._pending.pop(req.msg_id, None)
            raise CannotHandle(
                f"the agent in process {self.pid} did not answer {method!r} within {timeout:g} s"
            ) from None
        try:
            return req.parse_response(answer)
        except jsonrpc_base.ProtocolError as exc:
            code, message = (exc.args + (None, ""))[:2]
            raise _error_for(self.pid, method, code, str(message)) from None

    def notify(self, method: str, params: Any = None) -> None:
        self._peer.send_message(jsonrpc_base.Request(method, params, None))

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    message = await self._frames.next()
                except ValueError as exc:
                    log.warning("agent %d sent a malformed frame (%s); closing", self.pid, exc)
                    break
                if message is None:
                    break
                WIRE.debug("<- agent %d: %.2000s", self.pid, message)
                self._dispatch(message)
        finally:
            self._finish()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" not in message:
            if not self._peer.resolve(message):
                log.debug("agent %d: response to no pending request: %.200s", self.pid, message)
            return
        try:
            request = jsonrpc_base.Request.parse(message)
        except jsonrpc_base.ProtocolError as exc:
            log.warning("agent %d sent a bad message: %s", self.pid, exc)
            return
        if request.msg_id is not None:  # the agent asks nothing of us after hello
            self._peer.send_message(self._peer.receive_request(request))
            return
        self.hub._notification(self.pid, request.method, request.params)

    def _finish(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self._peer.fail_all(PeerGone(f"the agent in process {self.pid} disconnected"))
        try:
            self._writer.close()
        except (ConnectionError, OSError, RuntimeError):
            pass
        self.hub._lost(self)

    async def close(self) -> None:
        self._finish()
        if self._reader_task is not None and self._reader_task is not asyncio.current_task():
            self._reader_task.cancel()
            try:
                await self._reader_task
            except (asyncio.CancelledError, Exception):
                pass


def _error_for(pid: int, method: str, code: Any, message: str) -> Exception:
    text = f"the agent in process {pid} failed {method!r}: {message}"
    if code == ERR_INVALID_PARAMS:
        return InvalidRequest(text)
    if code == ERR_METHOD_NOT_FOUND:
        return CannotHandle(f"the agent in process {pid} does not support {method!r}")
    return CannotHandle(text)


class AgentHub:
    """All agent connections of one session; see the module docstring."""

    def __init__(
        self,
        token: str | None = None,
        on_state: StateCallback | None = None,
        on_notification: NotificationCallback | None = None,
    ) -> None:
        self.token = token or secrets.token_urlsafe(32)
        self.on_state = on_state
        self.on_notification = on_notification
        self.state = DISCONNECTED
        self.state_message = ""
        self.agents: dict[int, AgentConnection] = {}
        self.address: tuple[str, int] | None = None
        self._order: list[int] = []  # pids in the order their agents connected
        self._server: asyncio.Server | None = None
        self._changed: asyncio.Event | None = None  # set (and replaced) whenever agents change
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bootstrap: str | None = None
        self._bootstrap_finalizer: Callable[[], Any] = lambda: None
        self._reconnect: asyncio.Task[None] | None = None
        self._closing = False

    # -- state ------------------------------------------------------------------------------

    def _set_state(self, state: str, message: str) -> None:
        if state == self.state:
            return
        self.state, self.state_message = state, message
        log.info("agent link %s: %s", state, message)
        if self.on_state is not None:
            try:
                self.on_state(state, message)
            except Exception:
                log.exception("on_state callback failed")

    def _notification(self, pid: int, method: str, params: Any) -> None:
        if self.on_notification is not None:
            try:
                self.on_notification(pid, method, params)
            except Exception:
                log.exception("on_notification callback failed for %s", method)

    def _change_event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _announce(self) -> None:
        event, self._changed = self._change_event(), asyncio.Event()
        event.set()

    def _background(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _adopt(self, conn: AgentConnection) -> None:
        old = self.agents.get(conn.pid)
        if old is not None and old is not conn:
            self._background(old.close(), f"close stale agent {old.pid}")
        self.agents[conn.pid] = conn
        if conn.pid not in self._order:
            self._order.append(conn.pid)
        conn.start()
        python = conn.info.get("python", "?")
        self._set_state(CONNECTED, f"agent in process {conn.pid} (Python {python}) connected")
        if conn.parent is not None:
            self._notification(
                conn.parent, wire.AGENT_CHILD, {"pid": conn.pid, "parent": conn.parent}
            )
        self._announce()

    def _lost(self, conn: AgentConnection) -> None:
        if self.agents.get(conn.pid) is conn:
            del self.agents[conn.pid]
            self._order.remove(conn.pid)
        self._notification(conn.pid, AGENT_DISCONNECTED, {"pid": conn.pid})
        if not self.agents and not self._closing and self._reconnect is None:
            self._set_state(DISCONNECTED, f"the agent in process {conn.pid} disconnected")

    # -- agents connect to us ---------------------------------------------------------------

    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Accept agents on host:port (port 0: any free port); returns the bound address."""
        self._server = await asyncio.start_server(self._accept, host, port)
        sockname = self._server.sockets[0].getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        if not self.agents:
            self._set_state(
                CONNECTING, f"waiting for the agent on {self.address[0]}:{self.address[1]}"
            )
        return self.address

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        frames = _Frames(reader)
        try:
            message = await asyncio.wait_for(frames.next(), HANDSHAKE_TIMEOUT)
        except (TimeoutError, ValueError) as exc:
            log.warning(
                "refused an agent connection from %s: no hello (%s)", where, exc or "timeout"
            )
            writer.close()
            return
        if message is None:
            writer.close()
            return
        problem, code = self._check_hello(message)
        msg_id = message.get("id")
        if problem:
            log.warning("refused an agent connection from %s: %s", where, problem)
            reply: dict[str, Any] = {"code": code, "message": problem}
            _write(writer, {"jsonrpc": "2.0", "id": msg_id, "error": reply})
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                pass
            writer.close()
            return
        if self._closing:
            writer.close()
            return
        info = dict(message["params"])
        info.pop("token", None)
        _write(writer, {"jsonrpc": "2.0", "id": msg_id, "result": _server_hello()})
        self._adopt(AgentConnection(self, frames, writer, info))

    def _check_hello(self, message: dict[str, Any]) -> tuple[str, int]:
        if message.get("method") != wire.HELLO:
            return f"expected {wire.HELLO!r} first", wire.ERR_UNAUTHORIZED
        params = message.get("params")
        token = params.get("token") if isinstance(params, dict) else None
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode("utf-8"), self.token.encode("utf-8")
        ):
            return "wrong token", wire.ERR_UNAUTHORIZED
        assert isinstance(params, dict)
        if params.get("protocol") != wire.PROTOCOL_VERSION:
            return (
                f"agent protocol {params.get('protocol')!r} is not supported "
                f"(this server speaks {wire.PROTOCOL_VERSION})",
                wire.ERR_PROTOCOL,
            )
        if not isinstance(params.get("pid"), int):
            return "hello without a pid", wire.ERR_PROTOCOL
        return "", 0

    def launch_env(
        self, options: dict[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Variables to add to a launched program's environment so that its agent connects here.

        ``env``: the environment the program would otherwise get; its PYTHONPATH
        follows the bootstrap directory.  Without it PYTHONPATH is the bootstrap
        directory alone, for a caller that prepends it to the program's own
        PYTHONPATH itself (as ``dap.launch.with_env`` does).
        """
        if self.address is None:
            raise CannotHandle("the agent listener is not running (call listen() first)")
        bootstrap = self._bootstrap_dir()
        existing = (env or {}).get("PYTHONPATH", "")
        return {
            "PYTHONPATH": bootstrap + (os.pathsep + existing if existing else ""),
            wire.ENV_AGENT: f"{self.address[0]}:{self.address[1]}",
            wire.ENV_TOKEN: self.token,
            wire.ENV_OPTIONS: json.dumps(options or {}),
            wire.ENV_PARENT: "",
        }

    def _bootstrap_dir(self) -> str:
        if self._bootstrap is None:
            _sweep_stale_bootstraps()
            agent_dir = os.path.dirname(os.path.abspath(wire.__file__))
            package_dir = os.path.dirname(agent_dir)
            path = tempfile.mkdtemp(prefix=f"{BOOTSTRAP_PREFIX}{os.getpid()}-")
            shutil.copy2(os.path.join(agent_dir, "_site", "sitecustomize.py"), path)
            target = os.path.join(path, "devsandbox")
            try:
                os.symlink(package_dir, target, target_is_directory=True)
            except OSError:  # no symlinks (Windows without the privilege): copy the package
                shutil.copytree(package_dir, target, ignore=shutil.ignore_patterns("__pycache__"))
            self._bootstrap = path
            # removed by close(), or when this process exits without closing the hub
            self._bootstrap_finalizer = weakref.finalize(self, shutil.rmtree, path, True)
        return self._bootstrap

    # -- we connect to an agent (embedded mode) ---------------------------------------------

    async def connect(
        self, host: str, port: int, token: str, retry: bool = True
    ) -> AgentConnection:
        """Connect to an agent listening in the program; with ``retry``, reconnect when it drops.

        Raises PeerGone when nobody listens there and InvalidRequest when the
        agent refuses the token.
        """
        self._set_state(CONNECTING, f"connecting to the agent at {host}:{port}")
        try:
            conn = await self._connect_once(host, port, token)
        except (PeerGone, InvalidRequest) as exc:
            self._set_state(ERROR, str(exc))
            raise
        if retry:
            self._reconnect = asyncio.create_task(
                self._keep_connected(conn, host, port, token), name="agent reconnect"
            )
        return conn

    async def _connect_once(self, host: str, port: int, token: str) -> AgentConnection:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), HANDSHAKE_TIMEOUT
            )
        except (TimeoutError, OSError) as exc:
            raise PeerGone(f"no DevSandbox agent is listening at {host}:{port} ({exc})") from None
        frames = _Frames(reader)
        hello = {
            "token": token,
            "protocol": wire.PROTOCOL_VERSION,
            "role": "server",
            "pid": os.getpid(),
        }
        _write(writer, {"jsonrpc": "2.0", "id": 0, "method": wire.HELLO, "params": hello})
        try:
            answer = await asyncio.wait_for(frames.next(), HANDSHAKE_TIMEOUT)
        except (TimeoutError, ValueError) as exc:
            writer.close()
            raise PeerGone(f"the agent at {host}:{port} did not answer hello ({exc})") from None
        if answer is None:
            writer.close()
            raise PeerGone(f"the agent at {host}:{port} closed the connection during hello")
        error = answer.get("error")
        if isinstance(error, dict) or not isinstance(answer.get("result"), dict):
            writer.close()
            text = error.get("message") if isinstance(error, dict) else "no result"
            raise InvalidRequest(f"the agent at {host}:{port} refused the connection: {text}")
        conn = AgentConnection(self, frames, writer, answer["result"])
        self._adopt(conn)
        return conn

    async def _keep_connected(
        self, conn: AgentConnection, host: str, port: int, token: str
    ) -> None:
        while not self._closing:
            await conn.closed.wait()
            if self._closing:
                return
            self._set_state(CONNECTING, f"lost the agent at {host}:{port}; reconnecting")
            delay = BACKOFF_MIN
            while not self._closing:
                await asyncio.sleep(delay)
                try:
                    conn = await self._connect_once(host, port, token)
                    break
                except PeerGone as exc:
                    log.debug("reconnect to %s:%d failed: %s", host, port, exc)
                    delay = min(delay * 2, BACKOFF_MAX)
                except InvalidRequest as exc:
                    self._set_state(ERROR, str(exc))
                    self._reconnect = None
                    return

    # -- calls ------------------------------------------------------------------------------

    def primary(self) -> AgentConnection | None:
        """The program's own agent: the first one connected whose parent has no agent here."""
        for pid in self._order:
            conn = self.agents[pid]
            if conn.parent is None or conn.parent not in self.agents:
                return conn
        return None

    async def wait_for_agent(
        self, pid: int | None = None, timeout: float = 10.0
    ) -> AgentConnection:
        """The agent of process ``pid`` (default: the primary one), once it has connected."""
        deadline = time.monotonic() + timeout
        while True:
            conn = self.agents.get(pid) if pid is not None else self.primary()
            if conn is not None:
                return conn
            event = self._change_event()
            try:
                await asyncio.wait_for(event.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                which = f"process {pid}" if pid is not None else "the program"
                raise PeerGone(
                    f"the agent of {which} did not connect within {timeout:g} s"
                ) from None

    def _pick(self, pid: int | None) -> AgentConnection:
        if pid is not None:
            conn = self.agents.get(pid)
            if conn is None:
                raise InvalidRequest(f"no DevSandbox agent is connected for process {pid}")
            return conn
        conn = self.primary()
        if conn is None:
            raise PeerGone(f"no DevSandbox agent is connected ({self.state}: {self.state_message})")
        return conn

    async def call(
        self, method: str, params: Any = None, *, pid: int | None = None, timeout: float = 10.0
    ) -> Any:
        """Call an agent method (default: on the primary agent) and return its result."""
        return await self._pick(pid).call(method, params, timeout)

    async def discover(
        self, pid: int | None = None, *, top: int = 20, timeout: float = 30.0
    ) -> dict[str, Any]:
        """The discovery report of one process; child processes say whether their agent is here."""
        report: dict[str, Any] = await self.call(
            wire.DISCOVER, {"top": top}, pid=pid, timeout=timeout
        )
        for child in (report.get("children") or {}).get("processes", []):
            child["agent_connected"] = child.get("pid") in self.agents
        return report

    async def close(self) -> None:
        """Close every connection and the listener; remove the bootstrap directory."""
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
            try:
                await self._reconnect
            except (asyncio.CancelledError, Exception):
                pass
            self._reconnect = None
        for conn in list(self.agents.values()):
            await conn.close()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._bootstrap is not None:
            self._bootstrap_finalizer()  # removes the directory, once
            self._bootstrap = None
        self._set_state(DISCONNECTED, "closed")


def _sweep_stale_bootstraps() -> None:
    """Remove bootstrap directories left behind by servers that died without cleaning up."""
    if os.name != "posix":
        return  # os.kill(pid, 0) is not a liveness probe there
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(BOOTSTRAP_PREFIX):
            continue
        owner = name[len(BOOTSTRAP_PREFIX) :].partition("-")[0]
        path = os.path.join(base, name)
        try:
            if (not owner.isdigit() or os.stat(path).st_uid != os.getuid()
                    or runtime.pid_alive(int(owner))):
                continue
        except OSError:
            continue
        log.debug("removing %s (its server %s is gone)", path, owner)
        shutil.rmtree(path, ignore_errors=True)


def _server_hello() -> dict[str, Any]:
    return {"protocol": wire.PROTOCOL_VERSION, "role": "server", "pid": os.getpid()}


def _write(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    if not writer.is_closing():
        writer.write(encode(message))
