"""`devsandbox replay FILE` in the terminal: the time-travel commands next to the forward ones."""

from __future__ import annotations

import subprocess
import sys

from tt_support import PROGRAMS, env, marker_line

LOOP = PROGRAMS / "loop.py"


def replay(recording, script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "devsandbox", "replay", str(recording),
                           "--color", "never", *args], input=script, capture_output=True,
                          text=True, timeout=60, env=env(), check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_replay_commands(loop_recording):
    path, truth = loop_recording
    call = marker_line(LOOP, "call")
    commands = ["back", "rfinish", "rcontinue", "p i", "rcontinue", "p i", "continue", "p i",
                "history total", "lastwrite total", "rstep", "where", "timeline", "q"]
    out = replay(path, "\n".join(commands), "-b", f"{LOOP}:{call}")
    assert "exception: ValueError: too big 30" in out
    assert "Step back: step " in out and "Step back out: step " in out
    # reverse-continue twice from the end: the 5th then the 4th call; forwards: the 5th again
    assert out.count(f"loop.py:{call} in main  (breakpoint 1)") == 3
    assert "(dsb) 4\n" in out and "(dsb) 3\n" in out
    # history of total in main up to the end of the recording: every change, with its step
    changes = []
    for e in truth.events:
        if e.get("function") == "main" and "total" in e["locals"] and (
                not changes or changes[-1][1] != e["locals"]["total"]):
            changes.append((e["step"], e["locals"]["total"], e["line"]))
    for step, value, line in changes:
        assert f"step {step:>8,}  line {line:<5} {value}\n" in out
    assert "5 changes, 5 distinct values" in out
    assert "total changed from 5 to 14 at step" in out  # before the 5th call
    assert f"loop.py:{call} in main" in out and "square" in out
    assert "raised ValueError" in out
