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
