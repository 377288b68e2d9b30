"""Module globals a function rebinds (``global COUNTER; COUNTER += 1``), seen in the past.

The module frame records its globals only when it runs a line; the functions that rebind them
record them (``global:NAME``, by default).  At every step, the Globals scope, evaluate and
hovers show the latest recorded value: the export (ground truth) says which, both in a live
recorded session through a real debugpy and in a post-mortem replay.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tt_support import PROGRAMS, Replay, env, export, marker_line, record

from devsandbox.dapclient import DapClient

PROGRAM = PROGRAMS / "globals_rebind.py"
NAMES = ("COUNTER", "LABEL")


def recorded_globals(truth: Any, thread: int, step: int) -> dict[str, str]:
    """From the export: each module global's latest recorded value at a step (the module
    frame's locals, or a function's ``globals``), whatever frame recorded it."""
    out: dict[str, str] = {}
    for e in truth.events:
        if e["kind"] == "mark" or (e["thread"], e["step"]) > (thread, step):
            continue
        seen = e["locals"] if e["function"] == "<module>" else e.get("globals") or {}
        out.update({k: v for k, v in seen.items() if k in NAMES})
    return out


def shown(client: DapClient, frame_id: int) -> tuple[dict[str, str], dict[str, str], dict]:
    """(Locals, Globals, evaluate results) of a frame, for the names of the program."""
    scopes = {s["name"]: s["variablesReference"]
              for s in client.request("scopes", {"frameId": frame_id})["body"]["scopes"]}
    values = {}
    for name, ref in scopes.items():
        variables = client.request("variables", {"variablesReference": ref})["body"]["variables"]
        values[name] = {v["name"]: v["value"] for v in variables}
    evaluated = {n: client.request("evaluate", {"expression": n, "frameId": frame_id,
                                                "context": "watch"})["body"]["result"]
                 for n in NAMES}
    return values.get("Locals", {}), values.get("Globals", {}), evaluated


def check(client: DapClient, tid: int, truth: Any, thread: int) -> dict[str, str]:
    step = client.request("devsandbox/position")["body"]["step"]
    frame = client.request("stackTrace", {"threadId": tid})["body"]["stackFrames"][0]
    local, glob, evaluated = shown(client, frame["id"])
    expected = recorded_globals(truth, thread, step)
    assert not [n for n in local if n.startswith("global:")], local
    assert {n: glob[n] for n in NAMES} == expected, (frame["name"], frame["line"], step)
    assert evaluated == expected, (frame["name"], frame["line"], step)
    return expected


def test_a_post_mortem_replay_shows_each_steps_globals(tmp_path: Path) -> None:
    recording = record(PROGRAM, tmp_path / "globals.dsrec")
    truth = export(recording)
    functions = {e["function"] for e in truth.events if e.get("globals")}
    assert functions == {"bump", "reset"}  # the rebinding functions record them by default
    r = Replay(recording)
    try:
        tid = r.first["threadId"]
        seen = set()
        steps = [e["step"] for e in truth.events
                 if e["kind"] != "mark" and e["function"] != "<module>"]
        for step in steps:
            r.move("devsandbox/gotoStep", {"step": step})
            seen.add(tuple(sorted(check(r.client, tid, truth, 1).items())))
        # the values went through every rebinding
        assert {dict(s)["COUNTER"] for s in seen} == {"0", "1", "3", "100"}
        assert {dict(s)["LABEL"] for s in seen} == {"'start'", "'reset'"}
    finally:
        r.close()
    # re-running the second bump(2) starts from COUNTER as it was then (1): it reproduces
    proc = subprocess.run([sys.executable, "-m", "devsandbox", "replay-call", str(recording),
                           "--function", "bump", "--nth", "2", "--json"], env=env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["divergence"] is None


def test_a_live_recorded_session_shows_each_steps_globals(live) -> None:
    client, tmp = live
    after_call, after_reset = marker_line(PROGRAM, "after_call"), marker_line(PROGRAM, "after_reset")
    client.start("launch", {"program": str(PROGRAM), "console": "internalConsole",
                            "devsandbox": {"record": True, "recordingPath": str(tmp)}},
                 breakpoints={str(PROGRAM): [{"line": after_call}, {"line": after_reset}]},
                 timeout=60)
    tid = client.stopped(timeout=60)["threadId"]
    client.resume("continue", tid)
    client.resume("continue", tid)  # live at after_reset: COUNTER is 100
    body = client.resume("reverseContinue", tid)  # after the second bump
    assert body["description"].startswith("Breakpoint: step")
    recording = Path(client.request("devsandbox/position")["body"]["recording"])
    values: list[dict[str, str]] = []

    def look() -> None:
        frame = client.request("stackTrace", {"threadId": tid})["body"]["stackFrames"][0]
        local, glob, evaluated = shown(client, frame["id"])
        assert not [n for n in local if n.startswith("global:")], local
        step = client.request("devsandbox/position")["body"]["step"]
        values.append({"step": step, "line": frame["line"], "function": frame["name"],
                       "globals": {n: glob[n] for n in NAMES}, "evaluated": evaluated})

    look()  # main, after_call, k=1: main never read COUNTER, bump made it 3
    client.resume("reverseContinue", tid)
    look()  # after_call, k=0: 1
    client.resume("stepBack", tid)
    look()  # main, the call of bump(1): 0
    client.resume("stepIn", tid)
    client.resume("next", tid)
    look()  # bump, after COUNTER += 1: 1
    client.request("disconnect", {"terminateDebuggee": True}, timeout=15)
    client.close()

    truth = export(recording)
    assert [(v["function"], v["line"]) for v in values] == [
        ("main", after_call), ("main", after_call), ("main", marker_line(PROGRAM, "call")),
        ("bump", marker_line(PROGRAM, "bumped"))]
    for v in values:
        expected = recorded_globals(truth, 1, v["step"])
        assert v["globals"] == expected == v["evaluated"], v
    assert [v["globals"]["COUNTER"] for v in values] == ["3", "1", "0", "1"]


def test_last_write_of_a_global_asked_from_another_function(tmp_path: Path) -> None:
    """From main (which never assigns COUNTER), lastWrite finds the line of the function that
    rebound it last, with the value before and after."""
    recording = record(PROGRAM, tmp_path / "globals.dsrec")
    truth = export(recording)
    after_reset = next(e["step"] for e in truth.events if e["kind"] == "line"
                       and e["line"] == marker_line(PROGRAM, "after_reset"))
    after_call = [e["step"] for e in truth.events if e["kind"] == "line"
                  and e["line"] == marker_line(PROGRAM, "after_call")]
    r = Replay(recording)
    try:
        r.move("devsandbox/gotoStep", {"step": after_reset})
        body = r.request("devsandbox/lastWrite", {"expression": "COUNTER"})
        assert body["found"] and body["function"] == "reset"
        assert body["line"] == marker_line(PROGRAM, "reset")
        assert (body["old"], body["new"], body["value"]) == ("3", "100", "100")
        body = r.request("devsandbox/lastWrite", {"expression": "LABEL + '!'"})
        assert body["found"] and body["function"] == "reset" and body["new"] == "'reset!'"
        r.move("devsandbox/gotoStep", {"step": after_call[1]})
        body = r.request("devsandbox/lastWrite", {"expression": "COUNTER"})
        assert body["found"] and body["function"] == "bump"
        assert body["line"] == marker_line(PROGRAM, "bump")
        assert (body["old"], body["new"]) == ("1", "3")
        r.move("devsandbox/gotoStep", {"step": after_call[0] - 3})
        body = r.request("devsandbox/lastWrite", {"expression": "LABEL"})
        # before any function rebound it: the module's own assignment
        assert body["found"] and body["function"] == "<module>", body
        assert (body["line"], body["old"], body["new"]) == (3, None, "'start'")
    finally:
        r.close()
