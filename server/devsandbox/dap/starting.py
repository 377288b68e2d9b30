"""Starting a session: launch and the three ways to attach (host:port, process id, listen).

``launch`` validates the configuration, starts the session's control endpoint and
an agent hub, and hands debugpy the configuration with the agent's bootstrap in
its environment.  ``attach`` talks to the adapter that ``debugpy.listen`` runs in
the program (or a parent session's adapter, for subprocesses), or injects the
agent into a running process before debugpy injects itself.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from ..errors import CannotHandle, DevsandboxError, InvalidRequest
from ..wire.channel import Message
from . import agents
from . import launch as configs
from .backend import Backend

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger(__name__)

NO_RESPONSE = object()
"""Returned by a handler that answers (or has the answer relayed) by itself."""


def _check_server_token(session: Session, opts: configs.Options) -> None:
    if session.server_token is None:
        return
    if not opts.server_token or not hmac.compare_digest(opts.server_token, session.server_token):
        log.warning("refused a start request without the server's token")
        raise InvalidRequest(
            "This DevSandbox server requires its token: add \"devsandbox\": {\"serverToken\": "
            "\"...\"} to the configuration (the token is printed when the server starts and "
            "is stored in the per-user runtime directory).")

def _start_options(session: Session, request: Message) -> tuple[dict[str, Any], configs.Options]:
    args = request.get("arguments")
    if not isinstance(args, dict):
        raise InvalidRequest(f"'{request['command']}' needs an arguments object.")
    opts = configs.parse_options(args)
    _check_server_token(session, opts)
    for warning in opts.warnings:
        session.output(f"DevSandbox: {warning}\n", "important")
    return args, opts

async def launch(session: Session, request: Message) -> Any:
    args, opts = _start_options(session, request)
    await configs.validate_launch(args)
    await session.start_control(args)
    extra: dict[str, str] = {}
    if opts.agent:
        hub = await agents.new_hub(session)
        await hub.listen()
        extra = hub.launch_env(opts.raw)
        args = configs.hide_agent(args, [extra["PYTHONPATH"].split(os.pathsep)[0]])
    session.forward(request, configs.with_env(args, extra))
    return NO_RESPONSE

async def attach(session: Session, request: Message) -> Any:
    args, opts = _start_options(session, request)
    await session.start_control(args)
    connect = args.get("connect") or {}
    if not isinstance(connect, dict):
        raise InvalidRequest("'connect' must be an object with 'host' and 'port'.")
    if args.get("processId") is not None:
        await _attach_pid(session, args, opts)
    elif connect or args.get("port") is not None:
        # debugpy.listen() (and a parent session's adapter, for subprocesses) runs an
        # adapter in or beside the program: talk to it directly.
        host = connect.get("host") or args.get("host") or "127.0.0.1"
        port = connect.get("port", args.get("port"))
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise InvalidRequest(f"Invalid port {port!r} in the attach configuration.")
        await _use_remote_adapter(session, host, port)
        if opts.agent and args.get("subProcessId") is None:
            await _connect_embedded_agent(session, host, port, opts)
    elif not args.get("listen"):
        raise InvalidRequest(
            "An attach configuration needs 'connect' (host and port), 'processId' or 'listen'.")
    if opts.agent:
        args = configs.hide_agent(args)
    session.forward(request, args)
    return NO_RESPONSE

async def _use_remote_adapter(session: Session, host: str, port: int) -> None:
    """Replace the local debugpy adapter by the one listening at host:port."""
    remote = await Backend.connect(host, port, session.on_backend_message,
                                   session.on_backend_closed)
    if session.backend is not None:
        await session.backend.close()
    session.backend = remote
    session.ended = False
    response = await remote.channel.request("initialize", session.init_args)
    if not response.get("success"):
        raise CannotHandle(f"The debug adapter at {host}:{port} refused to initialize: "
                           f"{response.get('message')}")

async def _attach_pid(session: Session, args: dict[str, Any], opts: configs.Options) -> None:
    pid = args["processId"]
    if isinstance(pid, str) and pid.strip().isdigit():
        pid = int(pid)
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        raise InvalidRequest(f"'processId' must be a process id, got {args['processId']!r}.")
    if not os.path.exists(f"/proc/{pid}") and sys.platform.startswith("linux"):
        raise InvalidRequest(f"Cannot attach: there is no process with id {pid}.")
    if opts.agent:
        from ..inject import inject_agent

        hub = await agents.new_hub(session)
        host, port = await hub.listen()
        await inject_agent(pid, host, port, hub.token)
        await hub.wait_for_agent(pid, timeout=10)
    session.debuggee_pid = pid

async def _connect_embedded_agent(session: Session, host: str, port: int, opts: configs.Options) -> None:
    from ..inject import read_embedded_registry

    agent_port = opts.agent_port or port + 1
    token = opts.token
    if token is None:
        entry = read_embedded_registry(port)
        token = entry.get("token") if entry else None
    if token is None:
        session.output("DevSandbox: no agent token for the embedded program (set devsandbox.token"
                    " in the attach configuration); live features are off.\n", "important")
        return
    hub = await agents.new_hub(session)
    session.spawn(_keep_agent_connected(session, hub, opts.agent_host or host, agent_port, token))

async def _keep_agent_connected(session: Session, hub: Any, host: str, port: int, token: str) -> None:
    try:
        await hub.connect(host, port, token, retry=True)
    except DevsandboxError as exc:
        log.warning("agent at %s:%s: %s", host, port, exc)
        session.output(f"DevSandbox: cannot reach the agent at {host}:{port}: {exc}\n",
                    "important")



async def release_child(session: Session, arguments: dict[str, Any]) -> None:
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
        session.output(f"DevSandbox: the client did not debug subprocess "
                    f"{config.get('subProcessId')}; it runs without the debugger.\n")
        await done.wait()
        await child.close()
    except (DevsandboxError, KeyError, ValueError, OSError) as exc:
        log.warning("could not release subprocess %s: %s", config.get("subProcessId"), exc)
