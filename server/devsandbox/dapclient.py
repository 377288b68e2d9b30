"""A small synchronous DAP client, used by the terminal client, the demo and the tests.

It talks to ``devsandbox dap`` (or any DAP server) over a subprocess's stdio
or a TCP socket.  A reader thread collects messages; callers wait for the
responses and events they want with timeouts.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Sequence

from .wire.framing import FrameError, FrameParser, encode

Message = dict[str, Any]

logger = logging.getLogger(__name__)


class DapError(Exception):
    """An error response from the server."""

    def __init__(self, response: Message) -> None:
        self.response = response
        super().__init__(response.get("message") or f"{response.get('command')} failed")


class DapTimeout(Exception):
    pass


class DapClient:
    def __init__(
        self,
        argv: Sequence[str] | None = None,
        *,
        address: tuple[str, int] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stderr: Any = None,
        start_new_session: bool = False,
        listener: Callable[[Message], None] | None = None,
        keep: Callable[[Message], bool] | None = None,
    ) -> None:
        """``listener`` is called on the reader thread with every message, as it arrives;
        ``keep`` (default: everything) says which messages are also stored in ``messages``
        (a long session can drop bulky ``output`` events).  ``start_new_session`` puts the
        server in its own session, out of reach of the terminal's Ctrl-C."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        if address is not None:
            self.sock = socket.create_connection(address, timeout=10)
            self.sock.settimeout(None)
            self._write_raw = self.sock.sendall
            self._read_raw = lambda: self.sock.recv(65536)  # type: ignore[union-attr]
        else:
            argv = list(argv or [sys.executable, "-m", "devsandbox", "dap"])
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                env=env, cwd=cwd, start_new_session=start_new_session,
            )
            stdin, stdout = self.proc.stdin, self.proc.stdout
            assert stdin is not None and stdout is not None

            def write(data: bytes) -> None:
                stdin.write(data)
                stdin.flush()

            self._write_raw = write
            self._read_raw = lambda: os.read(stdout.fileno(), 65536)
        self._seq = itertools.count(1)
        self._lock = threading.Condition()
        self._write_lock = threading.Lock()
        self.messages: list[Message] = []  # everything received, in order
        self.bad_frames: list[FrameError] = []
        self.closed = False
        self.reverse_handlers: dict[str, Callable[[Message], Any]] = {}
        self._listener = listener
        self._keep = keep
        self._reader = threading.Thread(target=self._read_loop, name="dap-client-reader", daemon=True)
        self._reader.start()

    # -- plumbing ---------------------------------------------------------------------------

    def _read_loop(self) -> None:
        parser = FrameParser()
        try:
            while True:
                try:
                    data = self._read_raw()
                except OSError:
                    break
                if not data:
                    break
                for item in parser.feed(data):
                    if isinstance(item, FrameError):
                        self.bad_frames.append(item)
                        continue
                    if item.get("type") == "request":
                        self._answer_reverse(item)
                    if self._listener is not None:
                        try:
                            self._listener(item)
                        except Exception:  # a broken listener must not stop the reader
                            logger.exception("DAP client listener failed on %r", item)
                    if self._keep is not None and not self._keep(item):
                        continue
                    with self._lock:
                        self.messages.append(item)
                        self._lock.notify_all()
        finally:
            with self._lock:
                self.closed = True
                self._lock.notify_all()

    def _answer_reverse(self, request: Message) -> None:
        handler = self.reverse_handlers.get(request["command"])
        response: Message = {"type": "response", "request_seq": request["seq"],
                             "command": request["command"], "success": True}
        if handler is None:
            response.update(success=False, message=f"client does not support {request['command']}")
        else:
            try:
                response["body"] = handler(request) or {}
            except Exception as exc:  # report to the server, keep reading
                response.update(success=False, message=str(exc))
        threading.Thread(target=self.send, args=(response,), daemon=True).start()

    def send(self, message: Message) -> int:
        seq = next(self._seq)
        data = encode(dict(message, seq=seq))
        with self._write_lock:
            self._write_raw(data)
        return seq

    def send_raw(self, data: bytes) -> None:
        with self._write_lock:
            self._write_raw(data)

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float = 10.0,
                 start: int = 0, what: str = "message") -> Message:
        """Return the first message (from index ``start``) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for msg in self.messages[start:]:
                    if predicate(msg):
                        return msg
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    state = "connection closed" if self.closed else f"{timeout}s"
                    raise DapTimeout(f"no {what} ({state}); last messages: {self.messages[-5:]}")
                self._lock.wait(remaining)

    # -- requests and events ----------------------------------------------------------------

    def send_request(self, command: str, arguments: Any = None) -> int:
        msg: Message = {"type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        return self.send(msg)

    def response(self, seq: int, timeout: float = 10.0, check: bool = True) -> Message:
        resp = self.wait_for(lambda m: m.get("type") == "response" and m.get("request_seq") == seq,
                             timeout, what=f"response to #{seq}")
        if check and not resp.get("success"):
            raise DapError(resp)
        return resp

    def request(self, command: str, arguments: Any = None, timeout: float = 10.0,
                check: bool = True) -> Message:
        return self.response(self.send_request(command, arguments), timeout, check)

    def mark(self) -> int:
        """Index of the next message to arrive, for waiting on events after this point."""
        with self._lock:
            return len(self.messages)

    def event(self, name: str, timeout: float = 10.0, start: int = 0,
              where: Callable[[Message], bool] | None = None) -> Message:
        return self.wait_for(
            lambda m: m.get("type") == "event" and m.get("event") == name
            and (where is None or where(m.get("body") or {})),
            timeout, start, what=f"{name!r} event")

    def events(self, name: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.get("type") == "event" and m.get("event") == name]

    def output(self, category: str | None = None) -> str:
        """Text of the output events so far (of one category, or all but telemetry)."""
        bodies = [m.get("body") or {} for m in self.events("output")]
        return "".join(b.get("output", "") for b in bodies
                       if b.get("category") != "telemetry"
                       and (category is None or b.get("category", "console") == category))

    # -- common sequences -------------------------------------------------------------------

    def start(self, request: str = "launch", config: Message | None = None,
              breakpoints: dict[str, list[Message]] | None = None,
              exception_filters: list[str] | None = None, timeout: float = 20.0) -> Message:
        """initialize, launch/attach, breakpoints, configurationDone; returns the start response."""
        self.capabilities = self.request("initialize", {
            "clientID": "devsandbox-tests", "adapterID": "devsandbox", "pathFormat": "path",
            "linesStartAt1": True, "columnsStartAt1": True, "supportsVariableType": True,
            "supportsRunInTerminalRequest": "runInTerminal" in self.reverse_handlers,
            "supportsStartDebuggingRequest": True,
        })["body"]
        seq = self.send_request(request, config or {})
        first = self.wait_for(
            lambda m: (m.get("type") == "event" and m.get("event") == "initialized")
            or (m.get("type") == "response" and m.get("request_seq") == seq),
            timeout, what="'initialized' event")
        if first.get("type") == "response" and not first.get("success"):
            raise DapError(first)
        for path, bps in (breakpoints or {}).items():
            self.request("setBreakpoints", {"source": {"path": path}, "breakpoints": bps})
        self.request("setExceptionBreakpoints", {"filters": exception_filters or []})
        self.request("configurationDone")
        return self.response(seq, timeout)

    def stopped(self, timeout: float = 15.0, start: int = 0) -> Message:
        return self.event("stopped", timeout, start)["body"]

    def resume(self, command: str = "continue", thread_id: int = 1, arguments: Message | None = None,
               timeout: float = 15.0, until: str = "stopped") -> Message:
        """Send a stepping/continue request and return the body of the next ``until`` event."""
        start = self.mark()
        self.request(command, dict(arguments or {}, threadId=thread_id))
        return self.event(until, timeout, start)["body"]

    def top_frame(self, thread_id: int) -> Message:
        frames = self.request("stackTrace", {"threadId": thread_id})["body"]["stackFrames"]
        return frames[0]

    def locals(self, frame_id: int) -> dict[str, str]:
        scopes = self.request("scopes", {"frameId": frame_id})["body"]["scopes"]
        ref = scopes[0]["variablesReference"]
        variables = self.request("variables", {"variablesReference": ref})["body"]["variables"]
        return {v["name"]: v["value"] for v in variables}

    def close(self, timeout: float = 10.0) -> int | None:
        """Close the connection and return the server's exit code (if it is a subprocess)."""
        try:
            if self.proc is not None and self.proc.stdin:
                self.proc.stdin.close()
            if self.sock is not None:
                self.sock.close()
        except OSError:
            pass
        if self.proc is not None:
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return None
