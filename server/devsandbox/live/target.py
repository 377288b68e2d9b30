"""Reaching a running program's agent from the command line.

``open_agent(hub, pid=…)`` injects the agent into process ``pid`` (see
``devsandbox.inject``; an agent already there just connects again) and waits
for it on ``hub``; ``open_agent(hub, connect="HOST:PORT")`` connects to an agent
listening in the program (embedded mode), with the token from the
``DEVSANDBOX_TOKEN`` environment variable (never from the command line, where
other users could read it).  Used by ``devsandbox discover`` and the live
commands.
"""

from __future__ import annotations

import os
from typing import Any

from ..agent_link import AgentHub
from ..errors import InvalidRequest

TOKEN_ENV = "DEVSANDBOX_TOKEN"


async def open_agent(hub: AgentHub, *, pid: int | None = None, connect: str | None = None,
                     timeout: float = 30.0) -> int | None:
    """Make an agent reachable on ``hub``; returns the pid to call (None: the hub's only one)."""
    if connect:
        host, _, port = connect.rpartition(":")
        token = os.environ.get(TOKEN_ENV, "")
        if not host or not port.isdigit() or not token:
            raise InvalidRequest(f"--connect needs HOST:PORT and the agent's token in {TOKEN_ENV}")
        await hub.connect(host.strip("[]"), int(port), token, retry=False)
        return None
    if pid is None:
        raise InvalidRequest("give a process id or an agent address")
    from ..inject import inject_agent

    host, port_number = await hub.listen()
    await inject_agent(pid, host, port_number, hub.token, timeout=timeout)
    await hub.wait_for_agent(pid, timeout=timeout)
    return pid


class ProgramLink:
    """An open way to a running program's agent, as the command line names it.

    ``--pid`` injects the agent (or reaches the one there), ``--connect`` joins an
    embedded agent, ``--session`` goes through a debug session's control endpoint.
    ``call(prefix, verb, params, timeout)`` calls the agent's ``<prefix><verb>``; through a
    session it is the control method named ``prefix`` without its slash.
    """

    def __init__(self, *, pid: int | None = None, connect: str | None = None,
                 session: str | None = None, timeout: float = 30.0) -> None:
        self.wanted_pid, self.connect, self.session, self.timeout = pid, connect, session, timeout
        self.hub: AgentHub | None = None
        self.pid: int | None = None
        self.conn: Any = None

    async def __aenter__(self) -> ProgramLink:
        if self.wanted_pid is not None or self.connect:
            self.hub = AgentHub()
            self.pid = await open_agent(self.hub, pid=self.wanted_pid, connect=self.connect,
                                        timeout=self.timeout)
        elif self.session is not None:
            from ..wire import jsonrpc
            from .cli import pick_session

            entry = pick_session(self.session)
            self.conn = await jsonrpc.connect(entry["host"], int(entry["port"]), entry["token"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.hub is not None:
            await self.hub.close()

    @property
    def open(self) -> bool:
        return self.hub is not None or self.conn is not None

    async def call(self, prefix: str, verb: str, params: dict[str, Any], timeout: float) -> Any:
        if self.hub is not None:
            return await self.hub.call(prefix + verb, params, pid=self.pid, timeout=timeout)
        if self.conn is None:
            raise InvalidRequest("name the running program: --pid N, --session or --connect")
        return await self.conn.call(prefix.rstrip("/"), {"verb": verb, "params": params,
                                                         "timeout": timeout}, timeout=timeout + 5)
