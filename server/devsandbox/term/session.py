"""The DAP side of the terminal debugger: one debuggee, driven through ``devsandbox dap``.

``DebugSession`` owns a ``DapClient``.  The client's reader thread hands every event
to ``_on_message``: program output goes straight to the ``on_output`` callback (so it
is shown while the program runs), everything else is queued for the main thread,
which consumes it in ``wait_outcome`` after each resuming request.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from ..dapclient import DapClient, DapError, DapTimeout, Message
from ..errors import CannotHandle, InvalidRequest, PeerGone
from .breakpoints import Breakpoint, BreakpointTable, Spec
from .render import Location
from .target import SourceFiles, Target

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT = 60.0
# debugpy's pseudo-variables that group a scope's members
_GROUPS = {"special variables", "function variables", "class variables", "protected variables"}
# events that never change what the terminal shows
_QUIET_EVENTS = {"initialized", "process", "thread", "module", "loadedSource", "continued",
                 "capabilities", "debugpySockets", "debugpyWaitingForServer", "invalidated"}


@dataclass(frozen=True)
class Stop:
    reason: str            # DAP reason: entry, breakpoint, step, exception, pause, goto, ...
    thread_id: int
    description: str = ""
    text: str = ""
    breakpoint_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Ended:
    exit_code: int | None
    server_gone: bool = False


Outcome = Stop | Ended


@dataclass(frozen=True)
class Frame:
    id: int
    name: str
    path: str | None
    line: int
    source: dict[str, Any]

    @property
    def location(self) -> Location:
        return Location(self.path, self.line, self.name)


class EvalError(InvalidRequest):
    """An expression or statement failed in the debuggee; the message is its last line."""


def server_argv() -> list[str]:
    return [sys.executable, "-m", "devsandbox", "dap"]


class DebugSession:
    def __init__(self, target: Target, *, on_output: Callable[[str, str], None],
                 on_notice: Callable[[str], None], server_stderr: IO[Any] | None = None,
                 argv: list[str] | None = None) -> None:
        self.target = target
        self._on_output = on_output
        self._notice = on_notice
        self._events: queue.Queue[Message] = queue.Queue()
        self.breakpoints = BreakpointTable()
        self.capabilities: dict[str, Any] = {}
        self.exit_code: int | None = None
        self.ended: Ended | None = None
        self.stop: Stop | None = None
        self.thread_id: int | None = None
        self.frames: list[Frame] = []
        self.frame_index = 0
        self._files = SourceFiles()
        self.client = DapClient(argv or server_argv(), stderr=server_stderr, start_new_session=True,
                                listener=self._on_message, keep=_not_output)

    # -- events ------------------------------------------------------------------------------

    def _on_message(self, msg: Message) -> None:  # reader thread
        if msg.get("type") != "event":
            return
        if msg.get("event") == "output":
            body = msg.get("body") or {}
            self._on_output(body.get("category") or "console", body.get("output") or "")
        else:
            self._events.put(msg)

    def _handle(self, msg: Message) -> Outcome | None:
        """Digest one queued event; return an outcome when it ends a wait."""
        name, body = msg.get("event"), msg.get("body") or {}
        if name == "stopped":
            return Stop(body.get("reason", "pause"), int(body.get("threadId") or 0),
                        body.get("description") or "", body.get("text") or "",
                        tuple(body.get("hitBreakpointIds") or ()))
        if name == "exited":
            self.exit_code = body.get("exitCode")
        elif name == "terminated":
            self.ended = Ended(self.exit_code)
            return self.ended
        elif name == "breakpoint":
            self._breakpoint_changed(body.get("breakpoint") or {})
        elif name not in _QUIET_EVENTS:
            logger.debug("ignored event %r", msg)
        return None

    def _breakpoint_changed(self, answer: dict[str, Any]) -> None:
        bp = self.breakpoints.by_dap_id(answer.get("id", -1))
        if bp is not None:
            BreakpointTable.accept([bp], [answer])

    def _drain(self) -> None:
        """Digest events from before a resume; stale stops are dropped."""
        while True:
            try:
                self._handle(self._events.get_nowait())
            except queue.Empty:
                return

    def wait_outcome(self) -> Outcome:
        """Wait for the program to stop or end.  Ctrl-C pauses it; a second one terminates it."""
        interrupts = 0
        while True:
            try:
                if self.ended:
                    return self.ended
                try:
                    msg = self._events.get(timeout=0.25)
                except queue.Empty:
                    if self.client.closed and self._events.empty():
                        self.ended = Ended(self.exit_code, server_gone=True)
                    continue
                outcome = self._handle(msg)
                if outcome is not None:
                    return outcome
            except KeyboardInterrupt:
                interrupts += 1
                if interrupts == 1:
                    self._notice("pausing the program (Ctrl-C again to terminate it)")
                    self._request_quietly("pause", {"threadId": self.thread_id or 1})
                elif interrupts == 2:
                    self._notice("terminating the program")
                    self._request_quietly("terminate", {})
                else:  # the server does not answer: give up on it
                    self._notice("giving up on the DAP server")
                    self.ended = Ended(self.exit_code, server_gone=True)

    def _request_quietly(self, command: str, arguments: dict[str, Any]) -> None:
        try:
            self.client.send_request(command, arguments)
        except OSError as exc:
            logger.warning("%s not sent: %s", command, exc)

    # -- requests ----------------------------------------------------------------------------

    def request(self, command: str, arguments: dict[str, Any] | None = None,
                timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
        """A request's body; errors become InvalidRequest/PeerGone with the server's message."""
        if self.client.closed:
            raise PeerGone("the DAP server has exited")
        try:
            return self.client.request(command, arguments, timeout=timeout).get("body") or {}
        except DapError as exc:
            raise InvalidRequest(_last_line(str(exc))) from None
        except DapTimeout:
            if self.client.closed:
                raise PeerGone("the DAP server has exited") from None
            raise CannotHandle(f"no answer to {command} within {timeout:.0f}s") from None

    def start(self) -> Outcome:
        """initialize, launch, breakpoints, configurationDone; then the first stop or the end."""
        self.capabilities = self.request("initialize", {
            "clientID": "devsandbox-term", "clientName": "devsandbox debug",
            "adapterID": "devsandbox", "pathFormat": "path", "linesStartAt1": True,
            "columnsStartAt1": True, "supportsVariableType": True,
            "supportsRunInTerminalRequest": False, "locale": "en-us",
        })
        seq = self.client.send_request("launch", self.target.launch_config())
        try:
            first = self.client.wait_for(
                lambda m: (m.get("type") == "event" and m.get("event") == "initialized")
                or (m.get("type") == "response" and m.get("request_seq") == seq),
                REQUEST_TIMEOUT, what="'initialized' event")
        except DapTimeout as exc:
            raise PeerGone(f"the DAP server did not start the program: {exc}") from None
        if first.get("type") == "response" and not first.get("success"):
            raise InvalidRequest(_last_line(first.get("message") or "launch failed"))
        for path in sorted({bp.path for bp in self.breakpoints if bp.path}):
            self._send_file_breakpoints(path)
        if self.breakpoints.functions():
            self._send_function_breakpoints()
        self.request("setExceptionBreakpoints", {
            "filters": ["uncaught"],
            # stop at uncaught exceptions, but (like pdb) not at sys.exit(): that is a way
            # out, not an error.  debugpy ignores the filters when exceptionOptions are given.
            "exceptionOptions": [{"path": [{"names": ["Python Exceptions"]},
                                           {"names": ["Exception"]}], "breakMode": "unhandled"}],
        })
        self.request("configurationDone")
        try:  # the program runs from here on: Ctrl-C pauses it (wait_outcome does the same)
            self.client.response(seq, REQUEST_TIMEOUT)
        except DapError as exc:
            raise InvalidRequest(_last_line(str(exc))) from None
        except KeyboardInterrupt:
            self._notice("pausing the program")
            self._request_quietly("pause", {"threadId": 1})
        return self._settle(self.wait_outcome())

    def resume(self, command: str, arguments: dict[str, Any] | None = None) -> Outcome:
        """Send a request that lets the program run (continue, next, stepIn, stepOut, and later
        stepBack, reverseContinue ...) and wait for the next stop or the end."""
        self._drain()
        if self.ended:
            return self.ended
        args = {"threadId": self.thread_id}
        args.update(arguments or {})
        self.request(command, args)
        self.frames = []
        return self._settle(self.wait_outcome())

    def _settle(self, outcome: Outcome) -> Outcome:
        if isinstance(outcome, Stop):
            self.stop = outcome
            self.thread_id = outcome.thread_id or self.thread_id
            self.frame_index = 0
            self.frames = []
            self.load_frames()
        return outcome

    def load_frames(self) -> list[Frame]:
        if self.thread_id is None:
            raise CannotHandle("the program is not stopped")
        body = self.request("stackTrace", {"threadId": self.thread_id})
        self.frames = [_frame(f) for f in body.get("stackFrames") or []]
        self.frame_index = min(self.frame_index, max(0, len(self.frames) - 1))
        return self.frames

    @property
    def frame(self) -> Frame:
        if not self.frames:
            self.load_frames()
        if not self.frames:
            raise CannotHandle("no frames in this thread")
        return self.frames[self.frame_index]

    def select_frame(self, index: int) -> Frame:
        if not self.frames:
            self.load_frames()
        if not 0 <= index < len(self.frames):
            raise InvalidRequest(f"no frame #{index} (frames #0..#{len(self.frames) - 1})")
        self.frame_index = index
        return self.frames[index]

    def select_thread(self, thread_id: int) -> None:
        ids = [t for t, _ in self.threads()]
        if thread_id not in ids:
            raise InvalidRequest(f"no thread {thread_id} (threads: {', '.join(map(str, ids))})")
        self.thread_id = thread_id
        self.frame_index = 0
        self.load_frames()

    def threads(self) -> list[tuple[int, str]]:
        body = self.request("threads")
        return [(int(t["id"]), str(t.get("name", ""))) for t in body.get("threads") or []]

    def exception_text(self) -> str:
        """``ValueError: message`` for the current exception stop."""
        stop = self.stop
        if stop is None:
            return ""
        if self.capabilities.get("supportsExceptionInfoRequest"):
            try:
                info = self.request("exceptionInfo", {"threadId": stop.thread_id})
                name = str(info.get("exceptionId") or stop.text).rsplit(".", 1)[-1]
                desc = str(info.get("description") or "")
                return f"{name}: {desc}" if desc and desc != name else name
            except (InvalidRequest, CannotHandle):
                pass
        return f"{stop.text}: {stop.description}" if stop.description else stop.text

    def evaluate(self, expression: str, context: str = "watch") -> tuple[str, str]:
        """(result, type) of ``expression`` in the selected frame."""
        args: dict[str, Any] = {"expression": expression, "context": context}
        if self.thread_id is not None:
            args["frameId"] = self.frame.id
        try:
            body = self.request("evaluate", args)
        except InvalidRequest as exc:
            raise EvalError(str(exc)) from None
        return str(body.get("result", "")), str(body.get("type") or "")

    def scope_variables(self, scope: str) -> list[tuple[str, str, str]]:
        """(name, value, type) of one scope ("Locals", "Globals") of the selected frame."""
        scopes = self.request("scopes", {"frameId": self.frame.id}).get("scopes") or []
        for sc in scopes:
            if sc.get("name", "").lower() == scope.lower() or sc.get("presentationHint") == scope:
                return sorted(self._variables(sc["variablesReference"]),
                              key=lambda row: row[0].lower())
        raise CannotHandle(f"this frame has no {scope} scope")

    def _variables(self, reference: int, depth: int = 0) -> list[tuple[str, str, str]]:
        rows = []
        body = self.request("variables", {"variablesReference": reference})
        for var in body.get("variables") or []:
            name = var["name"]
            if name in _GROUPS and not var.get("value") and var.get("variablesReference"):
                # debugpy's "function variables" etc.: list the members, skip the dunders
                if name != "special variables" and depth == 0:
                    rows += self._variables(var["variablesReference"], depth + 1)
                continue
            rows.append((name, var.get("value", ""), var.get("type") or ""))
        return rows

    # -- breakpoints -------------------------------------------------------------------------

    def resolve_file(self, name: str | None) -> str:
        """An existing file for a breakpoint or listing; None means the current file."""
        if name is None:
            if self.thread_id is not None and self.frames:
                path = self.frame.path
            else:
                path = self.target.program and os.path.abspath(self.target.program)
            if not path:
                raise InvalidRequest("no current file: give FILE:LINE")
            return path
        name = os.path.expanduser(name)
        bases = [os.getcwd(), self.target.cwd]
        if self.target.program:
            bases.append(os.path.dirname(os.path.abspath(self.target.program)))
        bases += [os.path.dirname(f.path) for f in self.frames if f.path]
        for base in bases:
            path = os.path.abspath(os.path.join(base, name))
            if os.path.isfile(path):
                return path
        raise InvalidRequest(f"no such file: {name}")

    def add_breakpoint(self, spec: Spec) -> Breakpoint:
        if spec.function:
            bp = self.breakpoints.add(None, None, function=spec.function, condition=spec.condition)
            if self.capabilities:
                self._send_function_breakpoints()
            return bp
        path = self.resolve_file(spec.file)
        lines = self.source_lines(path)
        assert spec.line is not None
        if lines is not None and spec.line > len(lines):
            raise InvalidRequest(f"{os.path.basename(path)} has only {len(lines)} lines")
        if lines is not None and lines[spec.line - 1].strip()[:1] in ("", "#"):
            raise InvalidRequest(f"line {spec.line} of {os.path.basename(path)} "
                                 "is blank or a comment")
        bp = self.breakpoints.add(path, spec.line, condition=spec.condition)
        if self.capabilities:
            self._send_file_breakpoints(path)
        return bp

    def remove_breakpoint(self, bp: Breakpoint) -> None:
        self.breakpoints.remove(bp)
        if bp.function:
            self._send_function_breakpoints()
        elif bp.path:
            self._send_file_breakpoints(bp.path)

    def _send_file_breakpoints(self, path: str) -> None:
        bps = self.breakpoints.in_file(path)
        body = self.request("setBreakpoints", {"source": {"path": path},
                                               "breakpoints": [b.to_dap() for b in bps]})
        BreakpointTable.accept(bps, body.get("breakpoints") or [])

    def _send_function_breakpoints(self) -> None:
        bps = self.breakpoints.functions()
        body = self.request("setFunctionBreakpoints", {"breakpoints": [b.to_dap() for b in bps]})
        BreakpointTable.accept(bps, body.get("breakpoints") or [])

    # -- sources -----------------------------------------------------------------------------

    def source_lines(self, path: str | None, source: dict[str, Any] | None = None) -> list[str] | None:
        """The text of a source file by lines, from disk or (for generated code) the server."""
        if path and os.path.isfile(path):
            return self._files.lines(path)
        ref = (source or {}).get("sourceReference")
        if ref:
            try:
                return str(self.request("source", {"source": source, "sourceReference": ref})
                           .get("content", "")).splitlines()
            except (InvalidRequest, CannotHandle):
                return None
        return None

    # -- the end -----------------------------------------------------------------------------

    def terminate(self) -> None:
        """End the debuggee and the server (quit)."""
        if not self.client.closed and not self.ended:
            try:
                self.client.request("disconnect", {"terminateDebuggee": True}, timeout=10)
            except (DapError, DapTimeout, OSError) as exc:
                logger.warning("disconnect failed: %s", exc)

    def close(self) -> int | None:
        if not self.client.closed and self.ended:
            try:
                self.client.request("disconnect", {}, timeout=5)
            except (DapError, DapTimeout, OSError):
                pass
        return self.client.close()


def _frame(raw: dict[str, Any]) -> Frame:
    source = raw.get("source") or {}
    return Frame(int(raw["id"]), str(raw.get("name", "?")), source.get("path"),
                 int(raw.get("line") or 0), source)


def _not_output(msg: Message) -> bool:
    return not (msg.get("type") == "event" and msg.get("event") == "output")


def _last_line(message: str) -> str:
    """The useful part of an error: a traceback's final line."""
    lines = [ln for ln in message.strip().splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].startswith("Traceback"):
        return lines[-1].strip()
    return message.strip()
