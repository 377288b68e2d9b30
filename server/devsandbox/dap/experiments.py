"""Experiments as DAP custom requests ``devsandbox/experiment.<verb>``.

- ``experiment.run``: a new experiment {target, variants, inputs, injections?, settings?,
  name?, file?, save?, svg?} or a stored one {id, refresh?, settings?}; inputs come from
  a recording ({"recording": path}), explicit calls, or a live capture of the next N
  calls ({"kind": "live", "count"}; needs the agent).  Runs offline (a host process with
  the launch configuration's interpreter) unless it must run in the program (in-process
  isolation or in-memory captures with an agent connected, or ``settings.where:
  "program"``).  Answers {id, path, chart, report, text}.
- ``experiment.list``, ``experiment.get`` {id}, ``experiment.delete`` {id}: the stored
  experiments under ``<cwd>/.devsandbox/experiments/``.
- ``experiment.capture`` {target, count?, timeout?}: the agent's live capture.
- ``experiment.canaryStart`` {target, variant: {name, source}, share?, sticky?,
  threshold?, minCalls?}, ``experiment.canarySetShare`` {id, share},
  ``experiment.canaryStatus`` {id?}, ``experiment.canaryStop`` {id}: the agent's canary.
  A rollback in the program arrives as the event ``devsandbox/experiment.canaryRolledBack``
  (and as output).
"""

from __future__ import annotations

import functools
import os
import sys
from typing import TYPE_CHECKING, Any

from devsandbox.agent import wire

from ..errors import CannotHandle, InvalidRequest
from ..experiments import report, service
from ..experiments.store import Store
from ..wire.channel import Message

if TYPE_CHECKING:
    from .session import Session

PREFIX = "devsandbox/experiment."
LOCAL_VERBS = ("run", "list", "get", "delete")
AGENT_VERBS = tuple(v for v in wire.EXPERIMENT_VERBS if v != "run")
REQUESTS = tuple(PREFIX + v for v in LOCAL_VERBS + AGENT_VERBS)
ROLLED_BACK_EVENT = "devsandbox/experiment.canaryRolledBack"
AGENT_TIMEOUT = 30.0


class ExperimentState:
    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.hooked: Any = None  # the hub whose notifications we watch


def register(session: Session) -> None:
    """Add the experiment requests to the session's handler table (called by Session)."""
    state = ExperimentState()
    session.experiments = state  # type: ignore[attr-defined]
    handlers = {"run": run, "list": list_, "get": get, "delete": delete}
    for verb, handler in handlers.items():
        session.handlers[PREFIX + verb] = functools.partial(handler, session, state)
    for verb in AGENT_VERBS:
        session.handlers[PREFIX + verb] = functools.partial(forward, session, state, verb)
    for start in ("launch", "attach"):
        original = session.handlers[start]
        session.handlers[start] = functools.partial(_starting, session, state, original)


async def _starting(session: Session, state: ExperimentState, original: Any,
                    request: Message) -> Any:
    args = request.get("arguments")
    state.config = dict(args) if isinstance(args, dict) else {}
    result = await original(request)
    _watch(session, state)
    return result


def _watch(session: Session, state: ExperimentState) -> None:
    """Turn the agent's canary notifications into events (once per hub)."""
    hub = session.hub
    if hub is None or state.hooked is hub:
        return
    state.hooked = hub
    previous = hub.on_notification

    def on_notification(pid: int, method: str, params: Any) -> None:
        if method == wire.EXPERIMENT_CANARY and isinstance(params, dict):
            canary = params.get("canary") or {}
            if params.get("event") == "rolledBack":
                session.output(f"DevSandbox: canary {canary.get('id')} on {canary.get('target')} "
                               f"rolled back: {canary.get('reason')}\n", "important")
                if not session.client.closed:
                    session.client.event(ROLLED_BACK_EVENT, dict(canary, pid=pid))
            return
        if previous is not None:
            previous(pid, method, params)

    hub.on_notification = on_notification


def _args(request: Message) -> dict[str, Any]:
    args = request.get("arguments") or {}
    if not isinstance(args, dict):
        raise InvalidRequest(f"'{request['command']}' needs an arguments object.")
    return args


def root_of(config: dict[str, Any], args: dict[str, Any]) -> str:
    """Where experiments are stored: ``root``, the launch cwd, the program's directory."""
    for candidate in (args.get("root"), config.get("cwd")):
        if isinstance(candidate, str) and os.path.isdir(candidate):
            return os.path.abspath(candidate)
    program = config.get("program")
    if isinstance(program, str) and os.path.isfile(program):
        return os.path.dirname(os.path.abspath(program))
    return os.getcwd()


def _python(config: dict[str, Any]) -> str:
    python = config.get("python")
    if isinstance(python, list) and python and isinstance(python[0], str):
        return python[0]
    if isinstance(python, str) and python.strip():
        return python.strip().split()[0]
    return sys.executable


def _agent_call(session: Session, pid: Any) -> Any:
    hub = session.hub
    if hub is None or not hub.agents:
        return None
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
        raise InvalidRequest("'pid' must be a process id")
    live = getattr(session, "live", None)
    client = getattr(live, "client", "dap")

    async def call(verb: str, params: dict[str, Any], timeout: float) -> Any:
        params = dict(params)
        params.setdefault("client", client)
        return await hub.call(wire.EXPERIMENT_PREFIX + verb, params, pid=pid, timeout=timeout)

    return call


async def run(session: Session, state: ExperimentState, request: Message) -> Any:
    args = dict(_args(request))
    pid = args.pop("pid", None)
    _watch(session, state)
    store = Store(root_of(state.config, args))
    return await service.run(store, args, agent_call=_agent_call(session, pid),
                             cwd=state.config.get("cwd") if isinstance(state.config.get("cwd"), str)
                             else store.root.as_posix(), python=_python(state.config))


async def list_(session: Session, state: ExperimentState, request: Message) -> Any:
    return service.list_experiments(Store(root_of(state.config, _args(request))))


def _ident(args: dict[str, Any]) -> str:
    ident = args.get("id")
    if not isinstance(ident, str) or not ident:
        raise InvalidRequest("'id' must name an experiment (see devsandbox/experiment.list)")
    return ident


async def get(session: Session, state: ExperimentState, request: Message) -> Any:
    args = _args(request)
    answer = service.get(Store(root_of(state.config, args)), _ident(args))
    if args.get("svg") is True and answer["experiment"].get("runs"):
        answer["svg"] = report.svg(answer["experiment"]["runs"][-1])
    return answer


async def delete(session: Session, state: ExperimentState, request: Message) -> Any:
    args = _args(request)
    return service.delete(Store(root_of(state.config, args)), _ident(args))


async def forward(session: Session, state: ExperimentState, verb: str, request: Message) -> Any:
    args = dict(_args(request))
    call = _agent_call(session, args.pop("pid", None))
    if call is None:
        raise CannotHandle("No DevSandbox agent is connected to this session: captures and "
                           "canaries need the running program's agent.")
    _watch(session, state)
    timeout = AGENT_TIMEOUT
    if verb == "capture":
        wait = args.get("timeout", 30.0)
        timeout += float(wait) if isinstance(wait, (int, float)) and not isinstance(
            wait, bool) else 30.0
    if verb == "canaryStart" and isinstance(args.get("variant"), str):
        args["variant"] = {"name": "variant", "source": args["variant"]}
    return await call(verb, args, timeout)


async def call_from_control(session: Session, params: Any) -> Any:
    """The control endpoint's ``experiment`` method: {verb, params, pid?} for the command
    line's ``--session`` (capture and canary verbs, and ``run`` in the program)."""
    if not isinstance(params, dict) or params.get("verb") not in wire.EXPERIMENT_VERBS:
        raise InvalidRequest(f"'verb' must be one of {', '.join(wire.EXPERIMENT_VERBS)}")
    inner = params.get("params") or {}
    if not isinstance(inner, dict):
        raise InvalidRequest("'params' must be an object")
    call = _agent_call(session, params.get("pid"))
    if call is None:
        raise CannotHandle("no agent is connected to this session")
    timeout = params.get("timeout")
    wait = float(timeout) if isinstance(timeout, (int, float)) and not isinstance(
        timeout, bool) else 600.0
    return await call(str(params["verb"]), inner, wait)
