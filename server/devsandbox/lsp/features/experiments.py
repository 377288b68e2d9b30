"""The "Run experiment" code lens and the command ``devsandbox.experiment.run``.

A function with stored experiments (``.devsandbox/experiments/*.json`` in the
document's directory or any directory above it, whose target is this file's
function) gets a lens per experiment: "Run experiment: fast, wrong (last: fast
won)".  The command runs ``devsandbox experiment rerun ID`` with this
interpreter; when a debug session runs the file and the experiment needs the
program (live inputs, in-process runs), it goes through that session
(``--session PORT``).  The answer is the run's report; the user sees the
recommendation as a message.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types as T

from ...errors import DevsandboxError

if TYPE_CHECKING:
    from ..server import DevsandboxLanguageServer

RUN_EXPERIMENT = "devsandbox.experiment.run"
SUBDIR = Path(".devsandbox") / "experiments"
RUN_TIMEOUT = 1800.0

# directory -> (mtime of the directory, [(realpath of the file, qualname, summary)])
_cache: dict[str, tuple[float, list[tuple[str, str, dict[str, Any]]]]] = {}


class ExperimentCommandError(DevsandboxError):
    pass


def _stored(directory: Path) -> list[tuple[str, str, dict[str, Any]]]:
    try:
        mtime = directory.stat().st_mtime
    except OSError:
        return []
    key = str(directory)
    cached = _cache.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("file"), str):
            continue
        qualname = str(data.get("target", "")).partition(":")[2]
        runs = data.get("runs") if isinstance(data.get("runs"), list) else []
        last = runs[-1] if runs and isinstance(runs[-1], dict) else {}
        summary = {"id": data.get("id") or path.stem, "root": str(directory.parent.parent),
                   "variants": [v.get("name") for v in data.get("variants") or []
                                if isinstance(v, dict)],
                   "winner": (last.get("recommendation") or {}).get("winner"),
                   "ran": bool(runs), "inputKind": (data.get("inputs") or {}).get("kind"),
                   "isolation": (data.get("settings") or {}).get("isolation")}
        found.append((os.path.realpath(data["file"]), qualname, summary))
    _cache[key] = (mtime, found)
    return found


def experiments_for(path: str) -> dict[str, list[dict[str, Any]]]:
    """qualname -> the stored experiments on functions of the file ``path``."""
    real = os.path.realpath(path)
    out: dict[str, list[dict[str, Any]]] = {}
    directory = Path(real).parent
    for folder in (directory, *directory.parents):
        for file, qualname, summary in _stored(folder / SUBDIR):
            if file == real:
                out.setdefault(qualname, []).append(summary)
    return out


def title(summary: dict[str, Any]) -> str:
    names = ", ".join(str(n) for n in summary["variants"][:3])
    if len(summary["variants"]) > 3:
        names += ", …"
    if summary["winner"]:
        last = f" (last: {summary['winner']} won)"
    elif summary["ran"]:
        last = " (last: keep the baseline)"
    else:
        last = ""
    return f"Run experiment: {names}{last}"


def lenses(found: dict[str, list[dict[str, Any]]], qualname: str, span: T.Range,
           args: dict[str, Any]) -> list[T.CodeLens]:
    return [T.CodeLens(range=span, command=T.Command(
        title=title(s), command=RUN_EXPERIMENT,
        arguments=[dict(args, id=s["id"], root=s["root"])])) for s in found.get(qualname, [])]


def register(server: DevsandboxLanguageServer) -> None:
    @server.command(RUN_EXPERIMENT)
    async def run_experiment(ls, *args):  # type: ignore[no-untyped-def]
        a = args[0] if args and isinstance(args[0], dict) else {}
        ident, root, file = a.get("id"), a.get("root"), a.get("file")
        if not isinstance(ident, str) or not isinstance(root, str):
            raise ExperimentCommandError("devsandbox.experiment.run needs an experiment id and "
                                         "its root directory")
        cmd = [sys.executable, "-m", "devsandbox", "experiment", "rerun", ident, "--dir", root,
               "--json"]
        summary = next((s for q in experiments_for(file).values() for s in q
                        if s["id"] == ident), {}) if isinstance(file, str) else {}
        if isinstance(file, str) and (summary.get("inputKind") == "live"
                                      or summary.get("isolation") == "inprocess"):
            sessions = ls.sessions.for_file(file)
            if sessions:
                cmd += ["--session", str(sessions[0].entry.get("port"))]
        answer = await _run(cmd, root)
        report = answer.get("report") or {}
        rec = report.get("recommendation") or {}
        kind = T.MessageType.Info if report.get("status") == "ok" else T.MessageType.Warning
        text = rec.get("reason") or (report.get("error") or {}).get("message") or "done"
        ls.window_show_message(T.ShowMessageParams(type=kind, message=f"Experiment {ident}: {text}"))
        if ls.client_capabilities.workspace is not None and \
                ls.client_capabilities.workspace.code_lens is not None and \
                ls.client_capabilities.workspace.code_lens.refresh_support:
            ls.workspace_code_lens_refresh(None)
        return answer


async def _run(cmd: list[str], cwd: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ExperimentCommandError(f"the experiment ran longer than {RUN_TIMEOUT:g} s") from None
    if proc.returncode not in (0, 1) or not out.strip():
        raise ExperimentCommandError(err.decode("utf-8", "replace").strip()[-500:] or
                                     f"devsandbox experiment exited with {proc.returncode}")
    try:
        answer = json.loads(out)
    except ValueError:
        raise ExperimentCommandError("devsandbox experiment did not answer JSON") from None
    return answer if isinstance(answer, dict) else {}
