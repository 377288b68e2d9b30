"""Modify and replay: devsandbox/replayCall and `devsandbox replay-call`."""

from __future__ import annotations

import json
import subprocess
import sys

from tt_support import PROGRAMS, env

LOOP = PROGRAMS / "loop.py"


def _call_step(r, function: str, nth: int) -> int:
    calls = r.request("devsandbox/timeline", {"count": 1000})["calls"]
    return [c for c in calls if c["function"] == function][nth]["startStep"]


def test_changed_argument_changes_control_flow(loop_recording, replay_of):
    path, truth = loop_recording
    r = replay_of(path)
    step = _call_step(r, "check", 0)  # check(3) raised ValueError
    result = r.request("devsandbox/replayCall", {"step": step, "arguments": {"n": "1"}},
                       timeout=90)
    div = result["divergence"]
    assert div["kind"] == "control flow"
    # recorded: `if n > 2` then the raise (line 20); replayed: `return n` (line 21)
    assert (div["recorded"]["line"], div["replayed"]["line"]) == (20, 21)
    assert truth.at(1, div["recorded"]["step"])["line"] == 20
    assert result["recordedResult"] == {"exception": "ValueError: too big 3"}
    assert result["replayedResult"] == {"result": "1"}


def test_changed_argument_changes_a_value(loop_recording, replay_of):
    path, truth = loop_recording
    r = replay_of(path)
    step = _call_step(r, "square", 2)  # square(2)
    result = r.request("devsandbox/replayCall", {"step": step, "arguments": {"x": "5"}},
                       timeout=90)
    div = result["divergence"]
    assert div["kind"] == "value" and div["recorded"]["line"] == 15
    assert div["differences"] == [{"name": "y", "recorded": "4", "replayed": "25"}]
    assert truth.at(1, div["recorded"]["step"])["locals"]["y"] == "4"
    assert (result["recordedResult"], result["replayedResult"]) == ({"result": "4"},
                                                                    {"result": "25"})


def test_unchanged_call_with_recorded_callees_replays_identically(loop_recording, replay_of):
    path, _truth = loop_recording
    r = replay_of(path)
    main = next(f for f in r.frames() if f["name"] == "main")
    result = r.request("devsandbox/replayCall", {"frameId": main["id"]}, timeout=90)
    assert result["divergence"] is None  # square, check and Point answered from the recording
    assert result["replayedResult"] == result["recordedResult"] == {
        "exception": "ValueError: too big 30"}


def test_new_source(loop_recording, replay_of):
    path, _truth = loop_recording
    r = replay_of(path)
    step = _call_step(r, "square", 3)
    source = "def square(x):\n    y = x * x + 1\n    return y\n"
    result = r.request("devsandbox/replayCall", {"step": step, "source": source}, timeout=90)
    assert result["divergence"]["differences"] == [
        {"name": "y", "recorded": "9", "replayed": "10"}]


def test_command_line(loop_recording):
    path, _truth = loop_recording
    proc = subprocess.run([sys.executable, "-m", "devsandbox", "replay-call", str(path),
                           "--function", "check", "--arg", "n=1", "--json"], env=env(),
                          capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["divergence"]["kind"] == "control flow"
    assert result["replayedResult"] == {"result": "1"}
    proc = subprocess.run([sys.executable, "-m", "devsandbox", "replay-call", str(path),
                           "--function", "square", "--nth", "3", "--arg", "x=5"], env=env(),
                          capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "y: recorded 4, replayed 25" in proc.stdout
    assert "replayed result: returned 25" in proc.stdout
