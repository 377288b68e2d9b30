"""The agent's end of the server <-> agent channel (protocol: see ``wire.py``).

Content-Length framed JSON-RPC 2.0 over TCP, served on hidden daemon threads:
pydevd neither traces nor suspends them, so the agent answers while the program
runs and while it is stopped at a breakpoint.  Requests on one connection are
handled one after the other on that connection's thread; the program is never
paused.

Standard library only: this module runs inside the user's program.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from . import wire

log = logging.getLogger("devsandbox.agent")
log.addHandler(logging.NullHandler())  # never fall back to logging's last-resort stderr handler
if os.environ.get("DEVSANDBOX_AGENT_DEBUG"):
    _debug_handler = logging.StreamHandler(sys.stderr)
    _debug_handler.setFormatter(
        logging.Formatter("devsandbox.agent[%(process)d] %(levelname)s: %(message)s")
    )
    log.addHandler(_debug_handler)
    log.setLevel(logging.DEBUG)

Handler = Callable[[Any], Any]

MAX_HEADER_LINE = 8 * 1024
MAX_BODY = 64 * 1024 * 1024
HANDSHAKE_TIMEOUT = 10.0

ERR_METHOD_NOT_FOUND = -32601
ERR_INVALID_PARAMS = -32602
ERR_INTERNAL = -32603
ERR_SERVER = -32000


class RpcError(Exception):
    """An error answer: raise it from a handler to choose the code, or get it from connect()."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FrameError(Exception):
    """The peer sent something that is not a Content-Length framed JSON object."""


# -- framing ------------------------------------------------------------------------------------


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), default=_unknown).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _unknown(obj: object) -> str:
    # never repr() here: that could run the program's code
    return f"<{type(obj).__module__}.{type(obj).__qualname__}>"


def read_message(stream: BinaryIO) -> dict[str, Any] | None:
    """The next message, or None at a clean end of stream."""
    length = -1
    while True:
        line = stream.readline(MAX_HEADER_LINE)
        if not line:
            return None
        if not line.endswith(b"\n"):
            raise FrameError("header line too long")
        line = line.strip()
        if not line:
            if length >= 0:
                break
            continue  # tolerate blank lines between messages
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"content-length":
            text = value.strip()
            if not text.isdigit() or int(text) > MAX_BODY:
                raise FrameError(f"bad Content-Length {text[:40]!r}")
            length = int(text)
    body = stream.read(length)
    if len(body) < length:
        return None
    try:
        message = json.loads(body.decode("utf-8"))
    except ValueError as exc:
        raise FrameError(f"invalid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FrameError("message is not a JSON object")
    return message


# -- hidden threads -----------------------------------------------------------------------------

_own_threads: set[int] = set()


def spawn(name: str, target: Callable[[], None]) -> threading.Thread:
    """Start a daemon thread that debuggers leave alone and discovery leaves out."""

    def run() -> None:
        ident = threading.get_ident()
        _own_threads.add(ident)
        try:
            target()
        except Exception:
            log.exception("agent thread %s failed", name)
        finally:
            _own_threads.discard(ident)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.pydev_do_not_trace = True  # type: ignore[attr-defined]  # pydevd: do not trace
    thread.is_pydev_daemon_thread = True  # type: ignore[attr-defined]  # pydevd: never suspend
    thread.start()
    return thread


def own_thread_idents() -> frozenset[int]:
    """Idents of the agent's threads (discovery does not report them)."""
    return frozenset(_own_threads)


# -- connections --------------------------------------------------------------------------------


class Connection:
    """One server connected to this agent (in either direction)."""

    def __init__(self, agent: Agent, sock: socket.socket, peer: str, token: str) -> None:
        self.agent = agent
        self.sock = sock
        self.peer = peer
        self._token = token
        self._stream = sock.makefile("rb")
        self._send_lock = threading.Lock()
        self.authenticated = False
        self.closed = False

    def send(self, message: dict[str, Any]) -> bool:
        data = encode(message)
        with self._send_lock:
            if self.closed:
                return False
            try:
                self.sock.sendall(data)
                return True
            except OSError as exc:
                log.debug("send to %s failed: %s", self.peer, exc)
                return False

    def close(self) -> None:
        with self._send_lock:
            if self.closed:
                return
            self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for closable in (self._stream, self.sock):
            try:
                closable.close()
            except OSError:
                pass
        self.agent._forget(self)

    # client side of the handshake (launch / attach-by-pid: the agent connects)
    def handshake_out(self, timeout: float) -> dict[str, Any]:
        self.sock.settimeout(timeout)
        params = dict(self.agent.info(), token=self._token, role="agent")
        self.send({"jsonrpc": "2.0", "id": 0, "method": wire.HELLO, "params": params})
        answer = read_message(self._stream)
        if answer is None:
            raise ConnectionError(f"the server at {self.peer} closed the connection during hello")
        error = answer.get("error")
        if isinstance(error, dict):
            raise RpcError(int(error.get("code", ERR_SERVER)), str(error.get("message", "refused")))
        result = answer.get("result")
        protocol = result.get("protocol") if isinstance(result, dict) else None
        if protocol != wire.PROTOCOL_VERSION:
            text = f"the server speaks protocol {protocol!r}, the agent {wire.PROTOCOL_VERSION}"
            raise RpcError(wire.ERR_PROTOCOL, text)
        self.sock.settimeout(None)
        self.authenticated = True
        return result if isinstance(result, dict) else {}

    # server side of the handshake (embedded: the server connects to us)
    def _check_hello(self, message: dict[str, Any]) -> str:
        """'' if the hello is acceptable, else why it is refused."""
        if message.get("method") != wire.HELLO:
            return f"'{wire.HELLO}' must come first"
        params = message.get("params")
        token = params.get("token") if isinstance(params, dict) else None
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode("utf-8"), self._token.encode("utf-8")
        ):
            return "wrong token"
        return ""

    def serve(self) -> None:
        """Read and answer requests until the connection ends (runs on its own thread)."""
        try:
            while not self.closed:
                try:
                    message = read_message(self._stream)
                except FrameError as exc:
                    log.warning("closing the connection from %s: %s", self.peer, exc)
                    break
                except (OSError, ValueError):
                    break  # socket closed under us
                if message is None:
                    break
                if not self.authenticated:
                    if not self._accept(message):
                        break
                    continue  # the hello is answered by _accept, not dispatched
                method = message.get("method")
                if method in self.agent.concurrent:
                    # slow methods run on a thread of their own, so others are not held up
                    spawn(f"devsandbox.agent {method}", lambda m=message: self._dispatch(m))
                else:
                    self._dispatch(message)
        finally:
            self.close()

    def _accept(self, message: dict[str, Any]) -> bool:
        problem = self._check_hello(message)
        msg_id = message.get("id")
        if problem:
            code = wire.ERR_UNAUTHORIZED
            log.warning("refused a connection from %s: %s", self.peer, problem)
            self.agent.broadcast_log("warning", f"refused a connection from {self.peer}: {problem}")
            self.send({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": problem}})
            return False
        params = message["params"]
        protocol = params.get("protocol")
        if protocol != wire.PROTOCOL_VERSION:
            text = (
                f"protocol {protocol!r} is not supported (the agent speaks {wire.PROTOCOL_VERSION})"
            )
            log.warning("refused a connection from %s: %s", self.peer, text)
            self.send(
                {
                    "jsonrpc": "2.0",
                    "id": msg_id,
                    "error": {"code": wire.ERR_PROTOCOL, "message": text},
                }
            )
            return False
        self.sock.settimeout(None)
        self.authenticated = True
        self.agent._adopt(self)
        log.debug("server at %s connected", self.peer)
        self.send({"jsonrpc": "2.0", "id": msg_id, "result": dict(self.agent.info(), role="agent")})
        return True

    def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if not isinstance(method, str):
            return  # a response or garbage: the agent sends no requests after hello
        msg_id = message.get("id")
        params = message.get("params")
        try:
            result = self.agent.handle(method, {} if params is None else params)
            reply: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "result": result}
        except RpcError as exc:
            reply = {
                "jsonrpc": "2.0",
                "id": msg_id,
                "error": {"code": exc.code, "message": exc.message},
            }
        except Exception as exc:
            log.debug("method %s failed", method, exc_info=True)
            text = f"{type(exc).__name__}: {exc}"
            reply = {"jsonrpc": "2.0", "id": msg_id, "error": {"code": ERR_SERVER, "message": text}}
        if msg_id is not None:
            self.send(reply)
        if method == wire.SHUTDOWN:
            self.close()


class Agent:
    """The process-wide agent: method table, live connections and listeners."""

    def __init__(self) -> None:
        self.methods: dict[str, Handler] = {}
        self.concurrent: set[str] = set()  # methods answered on their own thread
        self.options: dict[str, Any] = {}
        self.parent: int | None = None
        self.started = time.time()
        self._lock = threading.Lock()
        self._connections: list[Connection] = []
        self._listeners: list[socket.socket] = []
        self._reconnect: tuple[str, int, str] | None = None  # (host, port, token) after connect()
        self.methods[wire.PING] = lambda params: {"pid": os.getpid(), "time": time.time()}
        self.methods[wire.SHUTDOWN] = lambda params: None
        self.methods[wire.DISCOVER] = _discover
        self.concurrent.add(wire.DISCOVER)  # counting objects can take a while

    def info(self) -> dict[str, Any]:
        return {
            "protocol": wire.PROTOCOL_VERSION,
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "parent": self.parent,
            "python": sys.version.split()[0],
            "implementation": sys.implementation.name,
            "executable": sys.executable,
            "argv": list(sys.argv),
            "cwd": _cwd(),
            "methods": sorted(self.methods),
        }

    def handle(self, method: str, params: Any) -> Any:
        handler = self.methods.get(method)
        if handler is None:
            raise RpcError(ERR_METHOD_NOT_FOUND, f"the agent has no method {method!r}")
        return handler(params)

    # connections
    def connections(self) -> list[Connection]:
        with self._lock:
            return [c for c in self._connections if c.authenticated and not c.closed]

    def _adopt(self, conn: Connection) -> None:
        with self._lock:
            self._connections.append(conn)

    def _forget(self, conn: Connection) -> None:
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)

    def notify(self, method: str, params: Any = None) -> int:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        return sum(1 for conn in self.connections() if conn.send(message))

    def broadcast_log(self, level: str, text: str) -> None:
        self.notify(wire.AGENT_LOG, {"level": level, "message": text})

    def connect(
        self, host: str, port: int, token: str, options: dict[str, Any] | None, timeout: float
    ) -> Connection:
        if options is not None:
            self.options = dict(options)
        sock = socket.create_connection((host, port), timeout=timeout)
        conn = Connection(self, sock, f"{host}:{port}", token)
        try:
            conn.handshake_out(timeout)
        except BaseException:
            conn.close()
            raise
        self._adopt(conn)
        self._reconnect = (host, port, token)
        spawn(f"devsandbox.agent {host}:{port}", conn.serve)
        log.debug("connected to the server at %s:%d", host, port)
        return conn

    def serve(self, host: str, port: int, token: str) -> tuple[str, int]:
        listener = socket.create_server((host, port), family=_family(host), backlog=8)
        address = listener.getsockname()
        with self._lock:
            self._listeners.append(listener)

        def accept_loop() -> None:
            while True:
                try:
                    sock, peer = listener.accept()
                except OSError:
                    return  # listener closed
                sock.settimeout(HANDSHAKE_TIMEOUT)
                conn = Connection(self, sock, f"{peer[0]}:{peer[1]}", token)
                spawn(f"devsandbox.agent server {peer[0]}:{peer[1]}", conn.serve)

        spawn(f"devsandbox.agent listener {address[0]}:{address[1]}", accept_loop)
        return str(address[0]), int(address[1])

    def close(self) -> None:
        with self._lock:
            listeners, self._listeners = self._listeners, []
            conns = list(self._connections)
        for listener in listeners:
            listener.close()
        for conn in conns:
            conn.close()
        self._reconnect = None

    def after_fork_in_child(self) -> None:
        """A forked child shares our sockets: drop them and connect again as a new process."""
        self._lock = threading.Lock()
        _own_threads.clear()
        for conn in self._connections:
            conn.closed = True  # do not shut the parent's socket down
            conn._send_lock = threading.Lock()
            try:
                conn.sock.close()
            except OSError:
                pass
        for listener in self._listeners:
            try:
                listener.close()
            except OSError:
                pass
        self._connections, self._listeners = [], []
        target, self._reconnect = self._reconnect, None
        if target is None:
            return
        self.parent = os.getppid()
        os.environ[wire.ENV_PARENT] = str(os.getpid())
        host, port, token = target

        def reconnect() -> None:
            try:
                self.connect(host, port, token, None, HANDSHAKE_TIMEOUT)
            except Exception as exc:
                log.warning("forked child %d could not reach the server: %s", os.getpid(), exc)

        spawn("devsandbox.agent fork reconnect", reconnect)


def _discover(params: Any) -> Any:
    from . import discovery

    return discovery.discover(params if isinstance(params, dict) else {})


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:
        return ""


AGENT = Agent()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=AGENT.after_fork_in_child)
