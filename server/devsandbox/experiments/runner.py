"""Running an experiment: offline (a host process of the program's interpreter) or in the
running program (its agent's ``experiment/run``).

Offline, ``python -m devsandbox.agent.experiments host`` runs with only the
agent's source root on ``PYTHONPATH`` and the program's directory on its
``sys.path``; it imports the target module fresh (a script's ``__main__`` block
does not run) and starts one worker process per variant.  In the program, the
variants compile against the live module (its current globals and state).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from devsandbox.agent import wire

from ..errors import CannotHandle, InvalidRequest
from .model import Experiment
from .recorded import DEFAULT_LIMIT, calls_from_recording

log = logging.getLogger(__name__)

# adapters/devsandbox/agent/wire.py -> adapters/
ADAPTERS_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(wire.__file__))))
MARGIN = 30.0
DEFAULT_WORKER_TIMEOUT = 120.0

AgentCall = Callable[[str, dict[str, Any], float], Awaitable[Any]]
"""``await agent_call(verb, params, timeout)``: the agent's experiment/<verb>."""


def host_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSANDBOX_")}
    env["PYTHONPATH"] = ADAPTERS_ROOT
    env.pop("PYTHONSTARTUP", None)
    return env


def overall_timeout(job: dict[str, Any]) -> float:
    per_worker = float(job.get("timeout") or DEFAULT_WORKER_TIMEOUT)
    return per_worker * (len(job.get("variants") or []) + 1) + MARGIN


async def run_offline(job: dict[str, Any], *, python: str | None = None,
                      cwd: str | None = None) -> dict[str, Any]:
    """Run ``job`` in a host process; its report."""
    cwd = os.path.abspath(cwd or os.getcwd())
    job = dict(job)
    path = [cwd]
    if job.get("file"):
        path.insert(0, os.path.dirname(os.path.abspath(str(job["file"]))))
    job.setdefault("sysPath", path)
    job.setdefault("cwd", cwd)
    python = python or str(job.get("python") or sys.executable)
    job["python"] = python
    payload = json.dumps(job).encode("utf-8")
    try:
        proc = await asyncio.create_subprocess_exec(
            python, "-m", "devsandbox.agent.experiments", "host", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=cwd,
            env=host_env(), start_new_session=True)
    except OSError as exc:
        raise InvalidRequest(f"cannot start {python}: {exc}") from None
    limit = overall_timeout(job)
    try:
        out, err = await asyncio.wait_for(proc.communicate(payload), limit)
    except (TimeoutError, asyncio.CancelledError):
        _kill(proc.pid)
        await proc.wait()
        raise CannotHandle(f"the experiment ran longer than {limit:g} s and was stopped") from None
    lines = out.decode("utf-8", "replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join(err.decode("utf-8", "replace").strip().splitlines()[-8:])
        raise CannotHandle(f"the experiment host failed (status {proc.returncode}): {tail}")
    try:
        report = json.loads(lines[-1])
    except ValueError:
        raise CannotHandle("the experiment host answered something that is not JSON") from None
    if not isinstance(report, dict):
        raise CannotHandle("the experiment host answered something that is not an object")
    return report


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def resolve_inputs(exp: Experiment, *, refresh: bool = False) -> None:
    """Fill ``exp.inputs["calls"]`` from its recording when it has none (or on ``refresh``)."""
    inputs = exp.inputs
    if inputs.get("kind") != "recording" or (inputs.get("calls") and not refresh):
        return
    path = inputs.get("recording")
    if not isinstance(path, str) or not path:
        raise InvalidRequest("inputs from a recording need 'recording' (the file)")
    limit = inputs.get("limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100_000:
        raise InvalidRequest("inputs 'limit' must be an integer between 1 and 100000")
    found = calls_from_recording(path, exp.target, file=exp.file or inputs.get("file"),
                                 limit=limit)
    exp.inputs.update(found)
    if not exp.file and found.get("file"):
        exp.file = found["file"]
    if not found["calls"]:
        why = f"; {len(found['unreconstructed'])} could not be reconstructed" \
            if found["unreconstructed"] else ""
        raise InvalidRequest(f"the recording has no reconstructable call of {exp.target} "
                             f"({found['seen']} calls seen{why})")


async def capture_live(exp: Experiment, agent_call: AgentCall, count: int,
                       timeout: float) -> dict[str, Any]:
    """Capture the next ``count`` calls in the program as the experiment's inputs."""
    params: dict[str, Any] = {"target": exp.target, "count": count, "timeout": timeout}
    if exp.file:
        params["file"] = exp.file
    answer = await agent_call("capture", params, timeout + MARGIN)
    calls = answer.get("inputs") or []
    if not calls:
        raise InvalidRequest(f"no call of {exp.target} happened within {timeout:g} s")
    exp.inputs.update(kind="live", calls=calls, captured=time.time(),
                      timedOut=bool(answer.get("timedOut")))
    if answer.get("file") and not exp.file:
        exp.file = str(answer["file"])
    return answer  # type: ignore[no-any-return]


def _wants_program(exp: Experiment, agent_call: AgentCall | None) -> bool:
    where = exp.settings.get("where", "auto")
    if where == "program":
        if agent_call is None:
            raise CannotHandle("running in the program needs a running program with the agent "
                               "(a debug session, --pid, --session or --connect)")
        return True
    if where == "offline" or agent_call is None:
        return False
    in_memory = any("ref" in c for c in exp.inputs.get("calls") or [])
    return exp.settings.get("isolation") == "inprocess" or in_memory


async def run(exp: Experiment, *, agent_call: AgentCall | None = None,
              cwd: str | None = None, python: str | None = None) -> dict[str, Any]:
    """Run the experiment (inputs resolved first); the report, also added to ``exp.runs``."""
    if not exp.variants:
        raise InvalidRequest("the experiment has no variants")
    await asyncio.to_thread(resolve_inputs, exp)  # a large recording takes a while to scan
    if not exp.inputs.get("calls"):
        raise InvalidRequest("the experiment has no inputs (explicit calls, a recording, or a "
                             "live capture)")
    job = exp.job()
    started = time.time()
    if _wants_program(exp, agent_call):
        assert agent_call is not None
        report = await agent_call("run", job, overall_timeout(job))
        where = "program"
    else:
        report = await run_offline(job, python=python or exp.settings.get("python"),
                                   cwd=cwd or exp.settings.get("cwd"))
        where = "offline"
    if not isinstance(report, dict):
        raise CannotHandle("the experiment run answered something that is not an object")
    report.setdefault("target", exp.target)
    report["experiment"] = exp.id
    report["started"] = started
    report["where"] = where
    unreconstructed = exp.inputs.get("unreconstructed") or []
    if unreconstructed:
        shown = report.setdefault("inputs", {})
        shown["unreconstructed"] = unreconstructed[:20]
        shown["unreconstructedCount"] = len(unreconstructed)
    exp.add_run(report)
    return report
