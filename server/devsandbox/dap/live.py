"""Live state, injection and hot swap as DAP custom requests.

``devsandbox/<verb>`` for every verb in ``wire.LIVE_VERBS`` is answered by the
agent's ``live/<verb>`` (see ``devsandbox.agent.live``): the arguments go to the
agent as they are, plus ``client`` (this session: per-client namespaces,
handles, safety level and the audit log's client field) and minus ``pid``
(which agent, when the program has child processes with agents).  The agent
threads answer while the program runs and while it is stopped at a breakpoint.

``devsandbox/watch`` {directories?, enable?, debounce?} starts (or stops) the
workspace watcher: a saved ``.py`` file that the program has loaded is
reloaded in place (``live/hotReload``); each reload is reported as output and
as a ``devsandbox/hotReloaded`` event.  The launch configuration's
``"devsandbox": {"hotReload": true}`` (or ``{"watch": [...], "debounce": s}``)
starts it with the session.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devsandbox.agent import wire

from ..errors import CannotHandle, DevsandboxError, InvalidRequest
from ..wire.channel import Message
from .capabilities import LIVE_REQUESTS

if TYPE_CHECKING:
    from ..live.watch import Watcher
    from .session import Session

log = logging.getLogger(__name__)

REQUESTS = LIVE_REQUESTS  # the requests this module answers
MARGIN = 5.0  # seconds the server waits beyond the agent's own timeout
LONG = frozenset({"find", "hotReload", "call", "eval", "transform", "startWorker", "stopWorker",
                  "sendMessage", "set", "inspect"})
_sessions = itertools.count(1)


class LiveState:
    """Per-session: the client name the agent knows us by, the watcher."""

    def __init__(self) -> None:
        self.client = f"dap:{os.getpid()}.{next(_sessions)}"
        self.config: dict[str, Any] = {}
        self.watcher: Watcher | None = None


def register(session: Session) -> None:
    """Add the live requests to the session's handler table (called by Session.__init__)."""
    state = LiveState()
    session.live = state  # type: ignore[attr-defined]
    for verb in wire.LIVE_VERBS:
        session.handlers[f"devsandbox/{verb}"] = functools.partial(forward, session, state, verb)
    session.handlers["devsandbox/watch"] = functools.partial(watch, session, state)
    for start in ("launch", "attach"):
        original = session.handlers[start]
        session.handlers[start] = functools.partial(_starting, session, state, original)
    original_disconnect = session.handlers["disconnect"]

    async def disconnect(request: Message) -> Any:
        _stop_watcher(state)
        return await original_disconnect(request)

    session.handlers["disconnect"] = disconnect
    original_close = session.close

    async def close() -> None:
        _stop_watcher(state)
        await original_close()

    session.close = close  # type: ignore[method-assign]


def _hub(session: Session) -> Any:
    if session.hub is None or not session.hub.agents:
        raise CannotHandle("No DevSandbox agent is connected to this session: live state needs "
                           "the agent (launch starts it with the program; attach needs the "
                           "embedded agent's port and token, or a process id).")
    return session.hub


def _timeout(verb: str, args: dict[str, Any]) -> float:
    own = args.get("timeout")
    base = float(own) if isinstance(own, (int, float)) and not isinstance(own, bool) else 10.0
    return base + MARGIN + (30.0 if verb in LONG else 0.0)


async def call_agent(session: Session, state: LiveState, verb: str,
                     args: dict[str, Any]) -> Any:
    args = dict(args)
    pid = args.pop("pid", None)
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
        raise InvalidRequest("'pid' must be a process id")
    args.setdefault("client", state.client)
    return await _hub(session).call(wire.LIVE_PREFIX + verb, args, pid=pid,
                                    timeout=_timeout(verb, args))


async def forward(session: Session, state: LiveState, verb: str, request: Message) -> Any:
    args = request.get("arguments") or {}
    if not isinstance(args, dict):
        raise InvalidRequest(f"'{request['command']}' needs an arguments object.")
    return await call_agent(session, state, verb, args)


# -- starting a session: remember the configuration, start the watcher if asked ----------------


async def _starting(session: Session, state: LiveState, original: Any, request: Message) -> Any:
    args = request.get("arguments")
    state.config = dict(args) if isinstance(args, dict) else {}
    result = await original(request)
    section = state.config.get("devsandbox")
    option = section.get("hotReload") if isinstance(section, dict) else None
    if option:
        try:
            _start_watcher(session, state, option if isinstance(option, dict) else {})
        except DevsandboxError as exc:
            session.output(f"DevSandbox: hot reload is off: {exc}\n", "important")
    return result


def _default_dirs(config: dict[str, Any]) -> list[str]:
    dirs = []
    if isinstance(config.get("program"), str):
        dirs.append(os.path.dirname(os.path.abspath(config["program"])))
    if isinstance(config.get("cwd"), str):
        dirs.append(os.path.abspath(config["cwd"]))
    return sorted(set(dirs)) or [os.getcwd()]


def _start_watcher(session: Session, state: LiveState, options: dict[str, Any]) -> list[str]:
    from ..live.watch import Watcher

    directories = options.get("watch") or options.get("directories") or _default_dirs(state.config)
    if isinstance(directories, str):
        directories = [directories]
    if not isinstance(directories, list) or not all(isinstance(d, str) for d in directories):
        raise InvalidRequest("'directories' must be a list of paths")
    missing = [d for d in directories if not os.path.isdir(d)]
    if missing:
        raise InvalidRequest(f"not a directory: {', '.join(missing)}")
    debounce = options.get("debounce", 0.2)
    if not isinstance(debounce, (int, float)) or isinstance(debounce, bool) or not 0 <= debounce <= 10:
        raise InvalidRequest("'debounce' must be a number of seconds between 0 and 10")
    _stop_watcher(state)
    state.watcher = Watcher([os.path.abspath(d) for d in directories],
                            functools.partial(_reload_file, session, state), float(debounce))
    state.watcher.start()
    return state.watcher.directories


def _stop_watcher(state: LiveState) -> None:
    if state.watcher is not None:
        state.watcher.stop()
        state.watcher = None


async def watch(session: Session, state: LiveState, request: Message) -> Any:
    args = request.get("arguments") or {}
    if not isinstance(args, dict):
        raise InvalidRequest("'devsandbox/watch' needs an arguments object.")
    if args.get("enable", True) is False:
        _stop_watcher(state)
        return {"watching": []}
    return {"watching": _start_watcher(session, state, args)}


async def _reload_file(session: Session, state: LiveState, path: str) -> None:
    try:
        source = await asyncio.to_thread(Path(path).read_text, "utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        log.info("hot reload: cannot read %s: %s", path, exc)
        return
    try:
        report = await call_agent(session, state, "hotReload", {"file": path, "source": source})
    except DevsandboxError as exc:
        session.output(f"DevSandbox hot reload of {path}: {exc}\n", "important")
        return
    if report.get("status") == "not-loaded":
        return
    session.output(describe_reload(report), "important" if report.get("status") != "ok"
                   else "console")
    if not session.client.closed:
        session.client.event("devsandbox/hotReloaded", report)


def describe_reload(report: dict[str, Any]) -> str:
    """One readable paragraph about a hot reload (also used by the command line)."""
    where = report.get("file") or report.get("module")
    if report.get("status") == "error":
        error = report.get("error") or {}
        at = f"{error.get('file')}:{error.get('line')}" if error.get("line") else where
        return (f"DevSandbox: {where} was not reloaded: {error.get('type')}: "
                f"{error.get('message')} ({at}); the program is unchanged\n")
    if report.get("status") == "not-loaded":
        return f"DevSandbox: {where} is not loaded by the program; nothing to reload\n"
    parts = []
    changed = [c["name"] for c in report.get("changed") or []]
    if changed:
        parts.append("changed " + ", ".join(changed))
    added = [a["name"] for a in report.get("added") or []]
    if added:
        parts.append("added " + ", ".join(added))
    constants = [c["name"] for c in report.get("constants") or []]
    if constants:
        parts.append("updated " + ", ".join(constants))
    text = f"DevSandbox: reloaded {where} ({report.get('version') or 'no changes'})"
    text += (": " + "; ".join(parts)) if parts else ""
    lines = [text + "\n"]
    for item in (report.get("notChanged") or []):
        lines.append(f"  not changed: {item['name']}: {item['reason']}\n")
    for item in (report.get("stillRunning") or []):
        lines.append(f"  {item['name']} (thread {item['thread']}, line {item['line']}): "
                     f"{item['reason']}\n")
    for item in (report.get("generators") or []):
        lines.append(f"  {item['count']} × {item['name']}: {item['reason']}\n")
    if report.get("constantsNotUpdated"):
        lines.append("  constants that differ, not updated (ask with updateConstants): "
                     + ", ".join(report["constantsNotUpdated"]) + "\n")
    return "".join(lines)


async def call_from_control(session: Session, params: Any) -> Any:
    """The control endpoint's ``live`` method: {verb, params, pid?} (the command line's
    ``--session``); the caller names its own client."""
    if not isinstance(params, dict) or params.get("verb") not in wire.LIVE_VERBS:
        raise InvalidRequest(f"'verb' must be one of {', '.join(wire.LIVE_VERBS)}")
    inner = params.get("params") or {}
    if not isinstance(inner, dict):
        raise InvalidRequest("'params' must be an object")
    if params.get("pid") is not None:
        inner = dict(inner, pid=params["pid"])
    state = getattr(session, "live", None) or LiveState()
    return await call_agent(session, state, params["verb"], inner)
