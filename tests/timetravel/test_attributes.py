"""With `record --attributes` (launch "recordAttributes"), locals holding objects whose repr
shows nothing of their state ("<Counter object at 0x…>") are recorded with their attributes
(format 1.3): in the past they expand into them, expressions read them and their history is
known.  The truth is the program's own account (a local it keeps of its
state), as the export shows it."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from tt_support import PROGRAMS, TIMEOUT, Replay, env, export, marker_line

PROGRAM = PROGRAMS / "objects.py"


@pytest.fixture(scope="module", params=["native", "python"])
def objects_recording(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "objects.dsrec"
    proc = subprocess.run([sys.executable, "-m", "devsandbox", "record", "--attributes",
                           "--backend", request.param, "--out", str(out), "--", str(PROGRAM)],
                          env=env(), capture_output=True, text=True, timeout=TIMEOUT,
                          cwd=PROGRAM.parent)
    assert proc.returncode == 0, proc.stderr
    return out, export(out)


def _children(r: Replay, frame_id: int, name: str) -> dict[str, str]:
    scopes = r.request("scopes", {"frameId": frame_id})["scopes"]
    top = r.request("variables", {"variablesReference": scopes[0]["variablesReference"]})
    var = next(v for v in top["variables"] if v["name"] == name)
    assert var["variablesReference"], f"{name} does not expand"
    kids = r.request("variables", {"variablesReference": var["variablesReference"]})["variables"]
    assert all(k["evaluateName"] == f"{name}.{k['name']}" for k in kids)
    return {k["name"]: k["value"] for k in kids}


def _evaluate(r: Replay, frame_id: int, expression: str) -> str:
    return r.request("evaluate", {"expression": expression, "frameId": frame_id})["result"]


def test_the_past_shows_attributes_as_they_were(objects_recording, replay_of):
    path, truth = objects_recording
    check = marker_line(PROGRAM, "check")
    steps = [e["step"] for e in truth.events if e.get("line") == check and e["kind"] == "line"]
    assert len(steps) == 3
    r = replay_of(path)
    tid = r.first["threadId"]
    for step in steps:
        r.move("devsandbox/gotoStep", {"step": step})
        count, log, a = ast.literal_eval(truth.at(1, step)["locals"]["snapshot"])
        frame = r.top(tid)["id"]
        assert _children(r, frame, "c") == {"count": repr(count), "log": repr(log)}
        assert _children(r, frame, "s") == {"a": repr(a)}  # b not set yet: no attribute
        assert _evaluate(r, frame, "c.count * 2") == repr(count * 2)
        assert _evaluate(r, frame, "c.log[-1]") == repr(log[-1])
        assert _evaluate(r, frame, "s.a") == repr(a)
        # the object's own text is its repr, as the export shows it
        assert r.locals(frame)["c"] == truth.at(1, step)["locals"]["c"]
    failed = r.client.request("evaluate", {"expression": "s.b", "frameId": frame}, check=False)
    assert not failed["success"] and "had no attribute 'b'" in failed["message"]


def test_history_of_an_attribute(objects_recording, replay_of):
    path, truth = objects_recording
    r = replay_of(path)
    end = next(e["step"] for e in truth.events
               if e.get("line") == marker_line(PROGRAM, "end") and e["kind"] == "line")
    r.move("devsandbox/gotoStep", {"step": end})
    frame = r.top()["id"]
    assert _children(r, frame, "s") == {"a": "30", "b": "'done'"}
    hist = r.request("devsandbox/valueHistory", {"expression": "c.count", "frameId": frame,
                                                 "scope": "function"})
    assert [c["value"] for c in hist["changes"]] == ["0", "1", "3", "6"]
    # each change shows at the first step of main after the call that made it
    bump_calls = [e["step"] for e in truth.events if e["kind"] == "return"
                  and e["function"].endswith("bump")]
    assert [c["step"] for c in hist["changes"][1:]] == [s + 1 for s in bump_calls]
    # inside the method, through self
    bump = marker_line(PROGRAM, "bump")
    first_bump = next(e["step"] for e in truth.events
                      if e.get("line") == bump + 1 and e["function"].endswith("bump"))
    r.move("devsandbox/gotoStep", {"step": first_bump})
    frame = r.top()["id"]
    assert _evaluate(r, frame, "self.count") == "1"
    assert _children(r, frame, "self") == {"count": "1", "log": "[]"}


def test_without_the_option_attributes_are_not_recorded(tmp_path, replay_of):
    out = tmp_path / "plain.dsrec"
    proc = subprocess.run([sys.executable, "-m", "devsandbox", "record", "--out", str(out), "--",
                           str(PROGRAM)], env=env(), capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=PROGRAM.parent)
    assert proc.returncode == 0, proc.stderr
    truth = export(out)
    step = next(e["step"] for e in truth.events
                if e.get("line") == marker_line(PROGRAM, "end") and e["kind"] == "line")
    r = replay_of(out)
    r.move("devsandbox/gotoStep", {"step": step})
    frame = r.top()["id"]
    failed = r.client.request("evaluate", {"expression": "c.count", "frameId": frame},
                              check=False)
    assert not failed["success"] and "was not recorded" in failed["message"]
