"""``experiment/run`` in the running program: the job runs against the program's own modules.

Subprocess isolation (the default) starts the workers with the program's
interpreter, ``sys.path`` and working directory (a ``__main__`` target is loaded
from its file there); ``"isolation": "inprocess"`` measures inside the program
on a hidden worker thread, stopped with an injected exception after
``timeout`` seconds; mocks, stubs and spies are undone either way.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ..rpc import RpcError
from . import host
from . import target as targets

ERR_INVALID = -32602


def run(params: dict[str, Any]) -> dict[str, Any]:
    from ..live import audit, runner
    from ..live.clients import client_name, level_of

    job = {k: v for k, v in params.items() if k not in ("client", "force")}
    job["safety"] = {"level": level_of(params), "force": params.get("force") is True}
    spec = job.get("target")
    if not isinstance(spec, str):
        raise RpcError(ERR_INVALID, "experiment/run needs 'target' (module:qualname)")
    try:
        target = targets.resolve(spec, job.get("file"))
    except targets.TargetError as exc:
        raise RpcError(ERR_INVALID, str(exc)) from None
    if target.file and not job.get("file"):
        job["file"] = target.file
    job.setdefault("python", sys.executable)
    job.setdefault("sysPath", [p for p in sys.path if isinstance(p, str)])
    job.setdefault("cwd", os.getcwd())
    audit.write({"action": "experiment", "client": client_name(params), "target": spec,
                 "isolation": job.get("isolation", "subprocess"),
                 "variants": [v.get("name") for v in job.get("variants") or []
                              if isinstance(v, dict)]})
    try:
        if job.get("isolation") != "inprocess":
            return host.run_job(job)
        timeout = float(job.get("timeout") or host.DEFAULT_TIMEOUT)
        done = runner.run_in_thread(lambda: host.run_job(job), kind="experiment",
                                    client=client_name(params), timeout=timeout, capture=False)
    except ValueError as exc:
        raise RpcError(ERR_INVALID, str(exc)) from None
    if done.timed_out or not done.done.is_set():
        return {"status": "error", "error": {"type": "Timeout", "message":
                f"the in-process run was stopped after {timeout:g} s (mocks, stubs and spies "
                "were removed)"}}
    if done.error is not None:
        err = done.error
        return {"status": "error", "error": {"type": type(err).__name__, "message": str(err)}}
    return done.result  # type: ignore[no-any-return]
