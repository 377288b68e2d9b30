"""One debug session: the client (IDE) channel, debugpy's adapter and our agents.

The session owns the requests DevSandbox implements and forwards everything
else to debugpy untouched, apart from sequence numbers.  All of it runs on one
asyncio loop; no locks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import DevsandboxError, InvalidRequest, PeerGone
from ..wire.channel import ByteStream, Channel, Message
from . import agents, capabilities, experiments, live, starting, timetravel
from .backend import REVERSE_ALLOWED, Backend
from .control import ControlServer
from .starting import NO_RESPONSE

log = logging.getLogger(__name__)


Handler = Callable[[Message], Awaitable[Any]]

# Handlers awaited before the next client message is read, so that what they
# forward to debugpy keeps the client's order.
ORDERED = frozenset({"initialize", "launch", "attach"})

# Requests after which the program runs again.
RESUMING = frozenset({"continue", "next", "stepIn", "stepOut", "goto", "terminate"})

# Requests that change the paused program's values.
CHANGING = frozenset({"setVariable", "setExpression"})


class Session:
    def __init__(self, stream: ByteStream, *, server_token: str | None = None) -> None:
        self.client = Channel("client", stream, self._on_client_message, self._on_client_bad_input,
                              self._on_client_closed)
        self.server_token = server_token
        """Token a TCP-served session requires in launch/attach (devsandbox.serverToken)."""
        self.backend: Backend | None = None
        self.hub: Any = None  # devsandbox.agent_link.AgentHub, created on launch/attach
        self.init_args: dict[str, Any] = {}
        self.debuggee_pid: int | None = None
        self.stopped: dict[str, Any] | None = None
        """Body of the last stopped event while the program is paused, else None."""
        self.control: ControlServer | None = None
        self.agent_state = "disconnected"
        self.ended = False
        self.done = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.handlers: dict[str, Handler] = {
            "initialize": self.initialize,
            "launch": lambda request: starting.launch(self, request),
            "attach": lambda request: starting.attach(self, request),
            "disconnect": self.disconnect,
            "devsandbox/discover": lambda request: agents.discover(self, request),
            "devsandbox/connectionState": lambda request: agents.connection_state(self, request),
        }
        self.ordered = set(ORDERED)
        """Commands whose handlers are awaited before the next client message is read."""
        # Time travel (stepBack, replay, ...) wraps some handlers: see timetravel.py.
        self.timetravel = timetravel.install(self)
        live.register(self)  # devsandbox/inspect, /set, /eval, /hotReload, ... (dap/live.py)
        experiments.register(self)  # devsandbox/experiment.* (dap/experiments.py)

    def start(self) -> None:
        self.client.start()

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- client side ----------------------------------------------------------------------

    async def _on_client_message(self, message: Message) -> None:
        if message["type"] != "request":
            if message["type"] == "event":
                log.warning("ignored event from the client: %s", message.get("event"))
            else:
                log.warning("response from the client to no pending request: %s", message)
            return
        command = message["command"]
        handler = self.handlers.get(command)
        if handler is not None:
            if command in self.ordered:
                await self._run(handler, message)
            else:
                self.spawn(self._run(handler, message))
        elif command.startswith("devsandbox/"):
            self.client.respond(message, error=f"Unknown DevSandbox request '{command}'.")
        else:
            try:
                self.forward(message)
            except DevsandboxError as exc:
                self.client.respond(message, error=str(exc))

    async def _run(self, handler: Handler, request: Message) -> None:
        try:
            body = await handler(request)
        except DevsandboxError as exc:
            log.info("%s failed: %s", request["command"], exc)
            self._respond(request, error=str(exc))
        except Exception as exc:
            log.exception("handler for %s failed", request["command"])
            self._respond(request, error=f"DevSandbox internal error in {request['command']}: {exc!r}")
        else:
            if body is not NO_RESPONSE:
                self._respond(request, body)

    def _respond(self, request: Message, body: Any = None, error: str | None = None) -> None:
        # A failed hover is no news to the user: the editor just shows no value.
        quiet = ((request.get("arguments") or {}).get("context") == "hover"
                 if isinstance(request.get("arguments"), dict) else False)
        try:
            self.client.respond(request, body, error, show_user=not quiet)
        except PeerGone:
            log.info("client gone before the response to %s", request["command"])

    def _on_client_bad_input(self, reason: str, message: Message | None) -> None:
        if message is not None and message.get("type") == "request" and isinstance(
                message.get("seq"), int):
            self._respond(message, error=f"Invalid request: {reason}.")
            return
        self.output(f"DevSandbox ignored a malformed message from the client: {reason}\n",
                    "important")

    def _on_client_closed(self) -> None:
        self.spawn(self.close())

    def output(self, text: str, category: str = "console") -> None:
        if not self.client.closed:
            self.client.event("output", {"category": category, "output": text})

    # -- forwarding to debugpy ------------------------------------------------------------

    def forward(self, request: Message, arguments: Any = None) -> None:
        """Send ``request`` to debugpy and relay its response to the client."""
        if self.backend is None or self.backend.channel.closed:
            raise InvalidRequest(
                "No debug session: the client must send 'initialize' first."
                if self.backend is None else "The debug session has ended.")
        self.backend.check_forwardable(request["command"])
        if arguments is not None:
            request = dict(request, arguments=arguments)
        future = self.backend.channel.forward_request(request)
        self.spawn(self._relay(request, future))
        if request["command"] in RESUMING:
            self._set_stopped(None)

    async def _relay(self, request: Message, future: asyncio.Future[Message]) -> None:
        try:
            response = await future
        except PeerGone:
            self._respond(request, error=f"debugpy ended before answering '{request['command']}'.")
            return
        if not self.client.closed:
            self.client.relay_response(request, response)
        if (request["command"] in CHANGING and response.get("success")
                and self.control is not None):
            self.control.state_changed()  # values seen through the control endpoint changed

    async def on_backend_message(self, message: Message) -> None:
        kind = message["type"]
        if kind == "event":
            self._on_backend_event(message)
        elif kind == "request":
            self.spawn(self._reverse_request(message))
        else:
            log.warning("response from debugpy to no pending request: %s", message)

    def _on_backend_event(self, message: Message) -> None:
        event, body = message["event"], message.get("body") or {}
        if event == "process" and self.debuggee_pid is None:
            self.debuggee_pid = body.get("systemProcessId")
        elif self.timetravel.hold_event(message):
            return  # the session is in the past: given when it returns to the live point
        elif event == "stopped":
            self._set_stopped(body)
        elif event in ("continued", "terminated", "exited"):
            self._set_stopped(None)
        if not self.client.closed:
            self.client.send({k: v for k, v in message.items() if k != "seq"})

    def _set_stopped(self, body: dict[str, Any] | None) -> None:
        self.stopped = body
        if self.control is not None:
            self.control.state_changed()

    async def start_control(self, config: dict[str, Any]) -> None:
        if self.control is None:
            self.control = ControlServer(self)
            await self.control.start(config)

    async def _reverse_request(self, request: Message) -> None:
        backend = self.backend
        assert backend is not None
        if request["command"] not in REVERSE_ALLOWED or self.client.closed:
            backend.channel.respond(request, error=f"'{request['command']}' is not relayed to the client.")
            return
        try:
            response = await self.client.forward_request(request)
        except PeerGone:
            return
        if not backend.channel.closed:
            backend.channel.relay_response(request, response)
        if request["command"] == "startDebugging" and not response.get("success"):
            # The subprocess waits for a debugger; without one it would hang for ever.
            self.spawn(starting.release_child(self, request.get("arguments") or {}))

    def on_backend_closed(self) -> None:
        if self.backend is not None and not self.backend.channel.closed:
            return  # a replaced backend went away, not the current one
        if not self.ended and not self.client.closed:
            self.output("DevSandbox: debugpy's adapter exited unexpectedly.\n", "important")
            self.client.event("terminated", {})
        self.ended = True

    # -- requests we own ------------------------------------------------------------------

    async def initialize(self, request: Message) -> Any:
        if self.backend is not None and not self.ended:
            raise InvalidRequest("The session is already initialized.")
        await self._reset()
        self.ended = False
        self.init_args = dict(request.get("arguments") or {})
        self.backend = await Backend.spawn(self.on_backend_message, self.on_backend_closed)
        response = await self.backend.channel.forward_request(request)
        if not response.get("success"):
            self.client.relay_response(request, response)
            return NO_RESPONSE
        return capabilities.merge(response.get("body"))

    async def disconnect(self, request: Message) -> Any:
        if self.backend is not None and not self.backend.channel.closed:
            try:
                response = await self.backend.channel.forward_request(request)
            except PeerGone:
                response = None
            if response is not None and not self.client.closed:
                self.client.relay_response(request, response)
        else:
            self._respond(request, {})
        self.ended = True
        await self._reset()
        return NO_RESPONSE

    # -- lifecycle ------------------------------------------------------------------------

    async def _reset(self) -> None:
        backend, hub, control = self.backend, self.hub, self.control
        self.backend, self.hub, self.debuggee_pid, self.control = None, None, None, None
        self.stopped = None
        if control is not None:
            await control.close()
        if backend is not None:
            await backend.close()
        if hub is not None:
            await hub.close()

    async def close(self) -> None:
        self.ended = True
        await self._reset()
        self.done.set()
