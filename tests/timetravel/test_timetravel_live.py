"""Time travel in a live session through `devsandbox dap` with a real debugpy and the recorder."""

from __future__ import annotations

import sys
from pathlib import Path

from tt_support import PROGRAMS, env, export, marker_line

from devsandbox.dapclient import DapClient

LOOP = PROGRAMS / "loop.py"


def start(client: DapClient, tmp: Path, breakpoints: list[dict]) -> int:
    client.start("launch", {"program": str(LOOP), "console": "internalConsole",
                            "devsandbox": {"record": True, "recordingPath": str(tmp)}},
                 breakpoints={str(LOOP): breakpoints}, timeout=60)
    return client.stopped(timeout=60)["threadId"]


def locals_of(client: DapClient, tid: int) -> dict[str, str]:
    frame = client.top_frame(tid)
    return {k: v for k, v in client.locals(frame["id"]).items()
            if not k.startswith(("(", "special", "function", "class"))}


def test_reverse_continue_and_back_to_the_live_point(live):
    client, tmp = live
    line = marker_line(LOOP, "move")
    tid = start(client, tmp, [{"line": line}])
    for _ in range(3):
        client.resume("continue", tid)
    assert locals_of(client, tid)["i"] == "3"  # live, debugpy: the 4th hit
    body = client.resume("reverseContinue", tid)
    assert body["reason"] == "breakpoint" and body["description"].startswith("Breakpoint: step")
    past = locals_of(client, tid)
    assert past["i"] == "2" and past["total"] == "5" and past["items"] == "[0, 1, 2]"
    pos = client.request("devsandbox/position")["body"]
    assert pos["inPast"] and pos["line"] == line
    recording = Path(pos["recording"])

    # back across the call of square: stepBackIn enters it at its return line
    client.resume("stepBack", tid)
    body = client.resume("devsandbox/stepBackIn", tid)
    frame = client.top_frame(tid)
    assert frame["name"] == "square" and frame["line"] == 15
    assert locals_of(client, tid) == {"x": "2", "y": "4"}
    frames = client.request("stackTrace", {"threadId": tid})["body"]["stackFrames"]
    assert [f["name"] for f in frames[:2]] == ["square", "main"]
    assert all(f["id"] >= 1_000_000_000 for f in frames)

    # forwards in the past, then to the live point: debugpy answers again
    body = client.resume("continue", tid)
    assert body["description"].startswith("Breakpoint")  # the 3rd hit, recorded
    body = client.resume("continue", tid)
    assert body["description"] == "Back at the live point"
    assert client.request("devsandbox/position")["body"]["inPast"] is False
    frame = client.top_frame(tid)
    assert frame["id"] < 1_000_000_000  # debugpy's frame
    assert locals_of(client, tid)["i"] == "3"
    client.resume("continue", tid)  # live debugging goes on
    assert locals_of(client, tid)["i"] == "4"

    # every value shown in the past equals the recording's export
    client.request("disconnect", {"terminateDebuggee": True}, timeout=15)
    client.close()
    truth = export(recording)
    hits = [e for e in truth.events if e.get("kind") == "line" and e["line"] == line]
    assert {k: hits[2]["locals"][k] for k in past} == past


def test_step_back_from_a_live_stop_and_last_write(live):
    client, tmp = live
    tid = start(client, tmp, [{"line": marker_line(LOOP, "boom")}])
    assert locals_of(client, tid)["msg"] == "'too big 3'"
    body = client.resume("stepBack", tid)
    assert body["description"].startswith("Step back: step")
    assert client.top_frame(tid)["line"] == marker_line(LOOP, "boom") - 1
    for _ in range(3):  # back over the handler into the caught exception
        body = client.resume("stepBack", tid)
    frame = client.top_frame(tid)
    assert frame["line"] == marker_line(LOOP, "boom") - 4  # check(3), where the exception came
    last = client.request("devsandbox/lastWrite", {"expression": "total"})["body"]
    assert last["found"] and last["line"] == marker_line(LOOP, "call")
    assert (last["old"], last["new"]) == ("14", "30")
    hist = client.request("devsandbox/valueHistory", {"expression": "i"})["body"]
    assert [c["value"] for c in hist["changes"]] == ["0", "1", "2", "3", "4"]
    body = client.resume("next", tid)
    while body["description"] != "Back at the live point":
        body = client.resume("next", tid)
    assert client.top_frame(tid)["line"] == marker_line(LOOP, "boom")


def test_start_recording_during_the_session_and_goto_targets(live):
    client, tmp = live
    line = marker_line(LOOP, "move")
    client.start("launch", {"program": str(LOOP), "console": "internalConsole",
                            "devsandbox": {"recordingPath": str(tmp)}},
                 breakpoints={str(LOOP): [{"line": line}]}, timeout=60)
    tid = client.stopped(timeout=60)["threadId"]
    error = client.request("stepBack", {"threadId": tid}, check=False)
    assert not error["success"] and "recording" in error["message"]
    status = client.request("devsandbox/startRecording", {})["body"]
    assert status["running"]
    client.resume("continue", tid)
    client.resume("continue", tid)
    assert locals_of(client, tid)["i"] == "2"
    # goto targets: debugpy's (this frame, live) and every recorded execution of the line
    targets = client.request("gotoTargets", {"source": {"path": str(LOOP)}, "line": line})
    recorded = [t for t in targets["body"]["targets"] if t["id"] >= 1_000_000_000]
    # recorded since the recording started (after i=0), up to the live point (i=2)
    assert [t["label"].split(": ", 1)[1].split(", ")[-1] for t in recorded] == ["i=1", "i=2"]
    assert any(t["id"] < 1_000_000_000 for t in targets["body"]["targets"])
    body = client.resume("goto", tid, {"targetId": recorded[0]["id"]})
    assert body["reason"] == "goto" and body["description"].startswith("Goto: step")
    assert locals_of(client, tid)["i"] == "1"
    body = client.resume("continue", tid)
    assert body["description"] == "Back at the live point"
    stopped = client.request("devsandbox/stopRecording", {})["body"]
    assert stopped["running"] is False and Path(stopped["path"]).exists()
    client.resume("continue", tid)
    assert locals_of(client, tid)["i"] == "3"


def test_a_subprocess_session_has_its_own_timeline(live):
    import threading
    import time

    client, tmp = live
    samples = Path(__file__).resolve().parent.parent / "samples"
    parent, child = samples / "parent.py", samples / "child.py"
    child_line = marker_line(child, "child_line")
    sessions: list[DapClient] = []

    def start_debugging(request):
        config = request["arguments"]["configuration"]
        sub = DapClient([sys.executable, "-m", "devsandbox", "dap"], env=env())
        sessions.append(sub)
        threading.Thread(target=lambda: sub.start(
            "attach", config, breakpoints={str(child): [{"line": child_line}]}),
            daemon=True).start()
        return {}

    client.reverse_handlers["startDebugging"] = start_debugging
    client.start("launch", {"program": str(parent), "subProcess": True,
                            "console": "internalConsole",
                            "devsandbox": {"record": True, "recordingPath": str(tmp)}},
                 timeout=60)
    deadline = time.time() + 30
    while not sessions and time.time() < deadline:
        time.sleep(0.05)
    sub = sessions[0]
    try:
        tid = sub.stopped(timeout=30)["threadId"]
        assert sub.top_frame(tid)["line"] == child_line
        body = sub.resume("stepBack", tid)
        assert body["description"].startswith("Step back: step")
        frame = sub.top_frame(tid)
        assert frame["name"] == "<module>" and frame["line"] == child_line + 4
        assert "greet" in sub.locals(frame["id"])
        body = sub.resume("stepIn", tid)
        assert body["description"] == "Back at the live point"
        assert sub.locals(sub.top_frame(tid)["id"])["who"] == "'from-parent'"
        sub.request("setBreakpoints", {"source": {"path": str(child)}, "breakpoints": []})
        sub.request("continue", {"threadId": tid})
        client.event("exited", timeout=30)
    finally:
        sub.close()
    assert "child said hello from-parent exit 0" in client.output()


def test_set_variable_while_live_shows_in_the_past(live):
    client, tmp = live
    line = marker_line(LOOP, "move")
    tid = start(client, tmp, [{"line": line}])
    frame = client.top_frame(tid)
    scopes = client.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
    client.request("setVariable", {"variablesReference": scopes[0]["variablesReference"],
                                   "name": "total", "value": "100"})
    client.resume("continue", tid)
    assert locals_of(client, tid)["total"] == "101"
    hist = client.request("devsandbox/valueHistory", {"expression": "total"})["body"]
    assert [c["value"] for c in hist["changes"]] == ["0", "100", "101"]
    last = client.request("devsandbox/lastWrite", {"expression": "p.x"})["body"]
    assert last["new"] == "100" and last["line"] == line  # p.x = total ran with the new total
    client.resume("stepBack", tid)
    client.resume("stepBack", tid)
    last = client.request("devsandbox/lastWrite", {"expression": "total"})["body"]
    assert (last["old"], last["new"]) == ("0", "100") and "byDebugger" in last
    marks = client.request("devsandbox/timeline", {})["body"]["marks"]
    assert marks and marks[0]["kind"] in ("resume", "setVariable")
