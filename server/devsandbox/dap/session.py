"""One debug session: the client (IDE) channel, debugpy's adapter and our agents.

The session owns the requests DevSandbox implements and forwards everything
else to debugpy untouched, apart from sequence numbers.  All of it runs on one
asyncio loop; no locks.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import sys
from typing import Any, Awaitable, Callable

from ..errors import CannotHandle, DevsandboxError, InvalidRequest, PeerGone
from ..wire.channel import ByteStream, Channel, Message
from . import capabilities, launch
from .backend import REVERSE_ALLOWED, Backend
from .control import ControlServer

log = logging.getLogger(__name__)

NO_RESPONSE = object()
"""Returned by a handler that answers (or has the answer relayed) by itself."""

Handler = Callable[[Message], Awaitable[Any]]

# Handlers awaited before the next client message is read, so that what they
# forward to debugpy keeps the client's order.
ORDERED = frozenset({"initialize", "launch", "attach"})

# Requests after which the program runs again.
RESUMING = frozenset({"continue", "next", "stepIn", "stepOut", "goto", "terminate"})


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
        self._agent_state = "disconnected"
        self.ended = False
        self.done = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.handlers: dict[str, Handler] = {
            "initialize": self.initialize,
            "launch": self.launch,
            "attach": self.attach,
            "disconnect": self.disconnect,
            "devsandbox/discover": self.discover,
            "devsandbox/connectionState": self.connection_state,
        }

    def start(self) -> None:
        self.client.start()

    def _spawn(self, coro: Awaitable[Any]) -> None:
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
            if command in ORDERED:
                await self._run(handler, message)
            else:
                self._spawn(self._run(handler, message))
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
        try:
            self.client.respond(request, body, error)
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
        self._spawn(self.close())

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
        self._spawn(self._relay(request, future))
        if request["command"] in RESUMING:
            self._set_stopped(None)

    async def _relay(self, request: Message, future: "asyncio.Future[Message]") -> None:
        try:
            response = await future
        except PeerGone:
            self._respond(request, error=f"debugpy ended before answering '{request['command']}'.")
            return
        if not self.client.closed:
            self.client.relay_response(request, response)

    async def _on_backend_message(self, message: Message) -> None:
        kind = message["type"]
        if kind == "event":
            self._on_backend_event(message)
        elif kind == "request":
            self._spawn(self._reverse_request(message))
        else:
            log.warning("response from debugpy to no pending request: %s", message)

    def _on_backend_event(self, message: Message) -> None:
        event, body = message["event"], message.get("body") or {}
        if event == "process" and self.debuggee_pid is None:
            self.debuggee_pid = body.get("systemProcessId")
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

    async def _start_control(self, config: dict[str, Any]) -> None:
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
            self._spawn(self._release_child(request.get("arguments") or {}))

    async def _release_child(self, arguments: dict[str, Any]) -> None:
        """Attach to a subprocess the client would not debug, and let it run."""
        config = dict(arguments.get("configuration") or {})
        connect = config.get("connect") or {}
        done = asyncio.Event()

        def on_message(message: Message) -> None:
            if message.get("type") == "event" and message.get("event") in ("terminated", "exited"):
                done.set()

        try:
            child = await Backend.connect(connect.get("host") or "127.0.0.1", int(connect["port"]),
                                          on_message, done.set)
            await child.channel.request("initialize", {"adapterID": "devsandbox"})
            attached = child.channel.request("attach", config)
            await child.channel.request("configurationDone")
            await attached
            self.output(f"DevSandbox: the client did not debug subprocess "
                        f"{config.get('subProcessId')}; it runs without the debugger.\n")
            await done.wait()
            await child.close()
        except (DevsandboxError, KeyError, ValueError, OSError) as exc:
            log.warning("could not release subprocess %s: %s", config.get("subProcessId"), exc)

    def _on_backend_closed(self) -> None:
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
        self.backend = await Backend.spawn(self._on_backend_message, self._on_backend_closed)
        response = await self.backend.channel.forward_request(request)
        if not response.get("success"):
            self.client.relay_response(request, response)
            return NO_RESPONSE
        return capabilities.merge(response.get("body"))

    def _check_server_token(self, opts: launch.Options) -> None:
        if self.server_token is None:
            return
        if not opts.server_token or not hmac.compare_digest(opts.server_token, self.server_token):
            log.warning("refused a start request without the server's token")
            raise InvalidRequest(
                "This DevSandbox server requires its token: add \"devsandbox\": {\"serverToken\": "
                "\"...\"} to the configuration (the token is printed when the server starts and "
                "is stored in the per-user runtime directory).")

    def _start_options(self, request: Message) -> tuple[dict[str, Any], launch.Options]:
        args = request.get("arguments")
        if not isinstance(args, dict):
            raise InvalidRequest(f"'{request['command']}' needs an arguments object.")
        opts = launch.parse_options(args)
        self._check_server_token(opts)
        for warning in opts.warnings:
            self.output(f"DevSandbox: {warning}\n", "important")
        return args, opts

    async def _new_hub(self) -> Any:
        from ..agent_link import AgentHub

        self.hub = AgentHub(on_state=self._on_agent_state,
                            on_notification=self._on_agent_notification)
        return self.hub

    def _on_agent_state(self, state: str, message: str) -> None:
        if self.client.closed:
            return
        # Every change is an event; only trouble (and recovery from it) is shown as output.
        if state == "error" or self._agent_state == "error" or (
                self._agent_state == "connected" and state != "connected"):
            self.output(f"DevSandbox agent: {message}\n", "important" if state == "error"
                        else "console")
        self._agent_state = state
        self.client.event("devsandbox/connectionState", {"state": state, "message": message})

    def _on_agent_notification(self, pid: int, method: str, params: Any) -> None:
        params = params if isinstance(params, dict) else {}
        if method == "agent/log":
            self.output(f"DevSandbox agent {pid}: {params.get('message', params)}\n", "important")
        elif method == "agent/child":
            self.output(f"DevSandbox: child process {params.get('pid')} of {pid} has an agent\n")

    async def launch(self, request: Message) -> Any:
        args, opts = self._start_options(request)
        await launch.validate_launch(args)
        await self._start_control(args)
        extra: dict[str, str] = {}
        if opts.agent:
            hub = await self._new_hub()
            await hub.listen()
            extra = hub.launch_env(opts.raw)
        self.forward(request, launch.with_env(args, extra))
        return NO_RESPONSE

    async def attach(self, request: Message) -> Any:
        args, opts = self._start_options(request)
        await self._start_control(args)
        connect = args.get("connect") or {}
        if not isinstance(connect, dict):
            raise InvalidRequest("'connect' must be an object with 'host' and 'port'.")
        if args.get("processId") is not None:
            await self._attach_pid(args, opts)
        elif connect or args.get("port") is not None:
            # debugpy.listen() (and a parent session's adapter, for subprocesses) runs an
            # adapter in or beside the program: talk to it directly.
            host = connect.get("host") or args.get("host") or "127.0.0.1"
            port = connect.get("port", args.get("port"))
            if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
                raise InvalidRequest(f"Invalid port {port!r} in the attach configuration.")
            await self._use_remote_adapter(host, port)
            if opts.agent and args.get("subProcessId") is None:
                await self._connect_embedded_agent(host, port, opts)
        elif not args.get("listen"):
            raise InvalidRequest(
                "An attach configuration needs 'connect' (host and port), 'processId' or 'listen'.")
        self.forward(request, args)
        return NO_RESPONSE

    async def _use_remote_adapter(self, host: str, port: int) -> None:
        """Replace the local debugpy adapter by the one listening at host:port."""
        remote = await Backend.connect(host, port, self._on_backend_message,
                                       self._on_backend_closed)
        if self.backend is not None:
            await self.backend.close()
        self.backend = remote
        self.ended = False
        response = await remote.channel.request("initialize", self.init_args)
        if not response.get("success"):
            raise CannotHandle(f"The debug adapter at {host}:{port} refused to initialize: "
                               f"{response.get('message')}")

    async def _attach_pid(self, args: dict[str, Any], opts: launch.Options) -> None:
        pid = args["processId"]
        if isinstance(pid, str) and pid.strip().isdigit():
            pid = int(pid)
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise InvalidRequest(f"'processId' must be a process id, got {args['processId']!r}.")
        if not os.path.exists(f"/proc/{pid}") and sys.platform.startswith("linux"):
            raise InvalidRequest(f"Cannot attach: there is no process with id {pid}.")
        if opts.agent:
            from ..inject import inject_agent

            hub = await self._new_hub()
            host, port = await hub.listen()
            await inject_agent(pid, host, port, hub.token)
            await hub.wait_for_agent(pid, timeout=10)
        self.debuggee_pid = pid

    async def _connect_embedded_agent(self, host: str, port: int, opts: launch.Options) -> None:
        from ..inject import read_embedded_registry

        agent_port = opts.agent_port or port + 1
        token = opts.token
        if token is None:
            entry = read_embedded_registry(port)
            token = entry.get("token") if entry else None
        if token is None:
            self.output("DevSandbox: no agent token for the embedded program (set devsandbox.token"
                        " in the attach configuration); live features are off.\n", "important")
            return
        hub = await self._new_hub()
        self._spawn(self._keep_agent_connected(hub, opts.agent_host or host, agent_port, token))

    async def _keep_agent_connected(self, hub: Any, host: str, port: int, token: str) -> None:
        try:
            await hub.connect(host, port, token, retry=True)
        except DevsandboxError as exc:
            log.warning("agent at %s:%s: %s", host, port, exc)
            self.output(f"DevSandbox: cannot reach the agent at {host}:{port}: {exc}\n",
                        "important")

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

    def _agent_hub(self) -> Any:
        if self.hub is None or not self.hub.agents:
            raise CannotHandle(
                "No DevSandbox agent is connected to this session (launch starts it with the "
                "program; attach needs the embedded agent's port and token).")
        return self.hub

    async def discover(self, request: Message) -> Any:
        args = request.get("arguments") or {}
        pid = args.get("pid")
        hub = self._agent_hub()
        top = args.get("top", 20)
        if not isinstance(top, int) or isinstance(top, bool) or top < 1:
            raise InvalidRequest("'top' must be a positive integer.")
        return await hub.discover(pid, top=top, timeout=30)

    async def connection_state(self, request: Message) -> Any:
        if self.hub is None:
            return {"state": "disconnected", "agents": []}
        return {"state": self.hub.state, "agents": sorted(self.hub.agents)}

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
