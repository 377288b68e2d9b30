"""The session's agents: the hub's state and notifications as DAP output, and agent requests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import CannotHandle, InvalidRequest
from ..wire.channel import Message

if TYPE_CHECKING:
    from .session import Session


async def new_hub(session: Session) -> Any:
    from ..agent_link import AgentHub

    session.hub = AgentHub(on_state=lambda state, message: _on_agent_state(session, state, message),
                        on_notification=lambda pid, method, params: _on_agent_notification(
                               session, pid, method, params))
    return session.hub

def _on_agent_state(session: Session, state: str, message: str) -> None:
    if session.client.closed:
        return
    # Every change is an event; only trouble (and recovery from it) is shown as output.
    if state == "error" or session.agent_state == "error" or (
            session.agent_state == "connected" and state != "connected"):
        session.output(f"DevSandbox agent: {message}\n", "important" if state == "error"
                    else "console")
    session.agent_state = state
    session.client.event("devsandbox/connectionState", {"state": state, "message": message})

def _on_agent_notification(session: Session, pid: int, method: str, params: Any) -> None:
    params = params if isinstance(params, dict) else {}
    if method == "agent/log":
        session.output(f"DevSandbox agent {pid}: {params.get('message', params)}\n", "important")
    elif method == "agent/child":
        session.output(f"DevSandbox: child process {params.get('pid')} of {pid} has an agent\n")



def _agent_hub(session: Session) -> Any:
    if session.hub is None or not session.hub.agents:
        raise CannotHandle(
            "No DevSandbox agent is connected to this session (launch starts it with the "
            "program; attach needs the embedded agent's port and token).")
    return session.hub

async def discover(session: Session, request: Message) -> Any:
    args = request.get("arguments") or {}
    pid = args.get("pid")
    hub = _agent_hub(session)
    top = args.get("top", 20)
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise InvalidRequest("'top' must be a positive integer.")
    return await hub.discover(pid, top=top, timeout=30)

async def connection_state(session: Session, request: Message) -> Any:
    if session.hub is None:
        return {"state": "disconnected", "agents": []}
    return {"state": session.hub.state, "agents": sorted(session.hub.agents)}
