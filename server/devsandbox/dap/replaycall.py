"""``devsandbox/replayCall``: re-run a recorded call with modifications and report the divergence.

    {frameId? | threadId? + step?,         the call (default: the focused frame's)
     arguments?: {name: expression},        new argument values (Python expressions)
     globals?: {name: expression},          new values of module globals it reads
     source?: "def f(...): ...",            new source for the function
     timeout?: seconds}
    -> {function, callStep, divergence: {kind: "control flow" | "value", index,
        recorded: {step, kind, line, locals}, replayed: {...}, differences: [{name,
        recorded, replayed}]} | null, recordedResult, replayedResult, recording}

The call runs again in a subprocess (the recording's interpreter) with its
recorded inputs; functions it calls answer with their recorded results.  The
new run is recorded next to the original recording.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ..errors import CannotHandle, InvalidRequest
from ..recording import replaycall as rc
from ..recording.reader import FormatError, Recording
from ..recording.timeline import Timeline
from ..wire.channel import Message
from . import travelquery

if TYPE_CHECKING:
    from .timetravel import TimeTravel

_counter = itertools.count(1)


async def handle(tt: TimeTravel, request: Message) -> Any:
    args = request.get("arguments") or {}
    if not isinstance(args, dict):
        raise InvalidRequest("arguments must be an object")
    query = {k: v for k, v in args.items() if k in ("frameId", "threadId")}
    pos, tid, step, frame, _frames = await travelquery.view(tt, query)
    fid = frame.fid
    if isinstance(args.get("step"), int):
        step, fid = args["step"], None
    tl = pos.tl
    try:
        call = rc.find_call(tl, tid, step, fid)
        old = rc.frame_steps(tl, call)
        spec = rc.build_spec(tl, call, args)
    except rc.ReplayError as exc:
        raise InvalidRequest(f"Cannot replay this call: {exc}") from None
    except SyntaxError as exc:
        raise InvalidRequest(f"Cannot replay this call: the source has a syntax error: {exc}") \
            from None
    return await run(tl, call, old, spec, set(args.get("arguments") or {}),
                     float(args.get("timeout") or 60))


async def run(tl: Timeline, call: rc.Call, old: list[rc.FrameStep], spec: dict[str, Any],
              modified: set[str], timeout: float, out_dir: str | None = None) -> dict[str, Any]:
    """Run the call again; the new recording goes next to the original (or into `out_dir`)."""
    base = os.path.splitext(tl.rec.path)[0]
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        base = os.path.join(out_dir, os.path.basename(base))
    stem = f"{base}-replaycall-{os.getpid()}-{next(_counter)}"
    spec["out"], spec["result"] = stem + ".dsrec", stem + ".json"
    spec_path = stem + ".spec.json"
    _write_json(spec_path, spec)
    python = tl.rec.meta.get("executable") or sys.executable
    if not os.path.exists(python):
        python = sys.executable
    argv, env = rc.harness_command(python, spec_path)
    proc = await asyncio.create_subprocess_exec(*argv, env=env, cwd=tl.rec.meta.get("cwd") or None,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise CannotHandle(f"The replayed call did not finish within {timeout:g} s.") from None
    finally:
        _remove(spec_path)
    try:
        outcome = _read_json(spec["result"])
    except (OSError, ValueError):
        tail = err.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise CannotHandle("The replayed call failed to run: " + " / ".join(tail)) from None
    _remove(spec["result"])
    new_tl = None
    try:
        new_tl = Timeline(Recording(spec["out"]))
        return rc.report(tl, call, old, new_tl, outcome, modified, spec["out"])
    except (OSError, FormatError) as exc:
        raise CannotHandle(f"Cannot read the replayed call's recording: {exc}") from None
    finally:
        if new_tl is not None:
            new_tl.rec.close()


def _write_json(path: str, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f)


def _read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
