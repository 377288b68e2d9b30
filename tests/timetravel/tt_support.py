"""Helpers for the time-travel tests: record a program, its exported ground truth, a DAP client
replaying it (fixtures in conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from devsandbox.dapclient import DapClient

HERE = Path(__file__).parent
PROGRAMS = HERE / "programs"
ROOT = HERE.parent.parent
TIMEOUT = 120


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONHASHSEED"] = "0"
    e.pop("DEVSANDBOX_OPTIONS", None)
    return e


def marker_line(program: Path, marker: str) -> int:
    for number, text in enumerate(program.read_text().splitlines(), 1):
        if f"# @{marker}" in text:
            return number
    raise AssertionError(f"no marker {marker} in {program}")


def record(program: Path, out: Path, *args: str) -> Path:
    proc = subprocess.run([sys.executable, "-m", "devsandbox", "record", "--out", str(out), "--",
                           str(program), *args], check=False, env=env(), capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=program.parent)
    assert out.exists(), proc.stderr
    return out


class Truth:
    """The exported events of a recording, by (thread, step)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.by_step = {(e["thread"], e["step"]): e for e in events if e["kind"] != "mark"}

    def at(self, thread: int, step: int) -> dict[str, Any]:
        return self.by_step[(thread, step)]

    def frame_locals(self, thread: int, step: int, frame: int) -> dict[str, str]:
        """A frame's locals at a step: those of its last event at or before it."""
        for s in range(step, -1, -1):
            e = self.by_step.get((thread, s))
            if e is not None and e["frame"] == frame:
                return shown_values(e)
        raise AssertionError(f"frame {frame} has no event before step {step}")

    def changes(self, function: str, name: str) -> list[tuple[int, str]]:
        """(step, value) each time a local of `function` takes a value other than the one
        its frame had at its previous event (its first value included)."""
        last: dict[int, str | None] = {}
        out = []
        for e in self.events:
            if e["kind"] == "mark" or e["function"] != function:
                continue
            value = e["locals"].get(name)
            if value != last.get(e["frame"]) and value is not None:
                out.append((e["step"], value))
            last[e["frame"]] = value
        return out

    def stack(self, thread: int, step: int) -> list[dict[str, Any]]:
        """The frames at a step, innermost first: (function, line, frame id)."""
        out = []
        depth = self.at(thread, step)["depth"]
        for s in range(step, -1, -1):
            e = self.by_step.get((thread, s))
            if e is not None and e["depth"] == depth:
                out.append(e)
                depth -= 1
                if depth < 0:
                    break
        return out

    def check_stack(self, tl: Any, e: dict[str, Any]) -> None:
        """The timeline's stack at event `e` is the export's: each frame's function, line, id
        and locals (a caller's: as at its own last event)."""
        frames = tl.stack(e["thread"], e["step"])
        expected = self.stack(e["thread"], e["step"])
        assert [(f.code.qualname, f.line, f.fid) for f in frames] == [
            (x["function"], x["line"], x["frame"]) for x in expected]
        assert frames[0].locals() == shown_values(e), e["step"]
        for f, x in zip(frames[1:], expected[1:]):
            assert f.locals() == self.frame_locals(e["thread"], e["step"], x["frame"])


def shown_values(e: dict[str, Any]) -> dict[str, str]:
    """An exported event's locals and the globals recorded beside them, named as the
    timeline names them ("global:NAME")."""
    return {**e["locals"], **{f"global:{k}": v for k, v in e.get("globals", {}).items()}}


def export(recording: Path) -> Truth:
    proc = subprocess.run([sys.executable, "-m", "devsandbox", "export", str(recording)],
                          check=False, env=env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    return Truth([json.loads(line) for line in proc.stdout.splitlines()])


class Replay:
    """A DAP client replaying a recording through `devsandbox dap`."""

    def __init__(self, recording: Path, breakpoints: dict[str, list[dict[str, Any]]] | None = None,
                 exception_filters: list[str] | None = None) -> None:
        self.client = DapClient([sys.executable, "-m", "devsandbox", "dap"], env=env())
        self.client.start("launch", {"devsandbox": {"replay": str(recording)}},
                          breakpoints=breakpoints, exception_filters=exception_filters)
        self.first = self.client.stopped(timeout=30)

    def request(self, command: str, arguments: Any = None, **kw: Any) -> dict[str, Any]:
        return self.client.request(command, arguments, **kw).get("body") or {}

    def move(self, command: str, arguments: dict[str, Any] | None = None,
             thread: int | None = None) -> dict[str, Any]:
        tid = thread if thread is not None else self.first["threadId"]
        return self.client.resume(command, tid, arguments)

    def position(self) -> dict[str, Any]:
        return self.request("devsandbox/position")

    def top(self, thread: int | None = None) -> dict[str, Any]:
        return self.client.top_frame(thread if thread is not None else self.first["threadId"])

    def frames(self, thread: int | None = None) -> list[dict[str, Any]]:
        tid = thread if thread is not None else self.first["threadId"]
        return self.request("stackTrace", {"threadId": tid})["stackFrames"]

    def locals(self, frame_id: int) -> dict[str, str]:
        return {k: v for k, v in self.client.locals(frame_id).items() if not k.startswith("(")}

    def close(self) -> None:
        try:
            self.client.request("disconnect", {}, timeout=10)
        finally:
            self.client.close()


def check_against_truth(r: Replay, truth: Truth, thread: int = 1) -> dict[str, Any]:
    """Every frame shown at the current position equals the export (line, function, locals)."""
    pos = r.position()
    step = pos["step"]
    expected = truth.stack(thread, step)
    frames = r.frames()
    assert [f["name"] for f in frames] == [e["function"] for e in expected]
    assert [f["line"] for f in frames] == [e["line"] for e in expected]
    for shown, e in zip(frames, expected):
        assert r.locals(shown["id"]) == truth.frame_locals(thread, step, e["frame"]), (
            shown["name"], step)
    return truth.at(thread, step)
