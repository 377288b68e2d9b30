"""Post-mortem replay through `devsandbox dap`: every value shown equals the export."""

from __future__ import annotations

from tt_support import PROGRAMS, check_against_truth, marker_line

LOOP = PROGRAMS / "loop.py"


def test_starts_at_the_uncaught_exception(loop_recording, replay_of):
    path, truth = loop_recording
    r = replay_of(path)
    assert r.first["reason"] == "exception"
    assert "Uncaught ValueError" in r.first["description"]
    event = check_against_truth(r, truth)
    assert event["kind"] == "exception" and event["function"] == "check"
    assert event["exception"]["value"] == "ValueError('too big 30')"
    info = r.request("exceptionInfo", {"threadId": r.first["threadId"]})
    assert info["exceptionId"] == "ValueError" and "too big 30" in info["description"]
    top = r.top()
    assert r.client.locals(top["id"])["(exception) ValueError"] == "ValueError('too big 30')"


def test_step_back_across_calls_returns_and_exceptions(loop_recording, replay_of):
    path, truth = loop_recording
    r = replay_of(path)
    seen = []
    for _ in range(40):
        body = r.move("stepBack")
        event = check_against_truth(r, truth)
        assert body["description"].startswith("Step back: step ")
        seen.append((event["function"], event["kind"], event["line"]))
        if event["line"] == marker_line(LOOP, "call") + 1 and len(seen) > 20:
            break
    functions = {f for f, _, _ in seen}
    assert {"main", "check"} <= functions  # back out of the raising call into main
    assert ("main", "exception", 33) in seen  # the caught exception, where main saw it
    # stepping back over `total += square(i)` never stops inside square
    assert "square" not in functions
    # from the line after `total += square(i)`, back into the call: square's last line
    body = r.move("devsandbox/stepBackIn")
    event = check_against_truth(r, truth)
    assert event["function"] == "square" and event["line"] == 15
    body = r.move("devsandbox/stepBackOut")
    event = check_against_truth(r, truth)
    assert event["function"] == "main" and event["line"] == marker_line(LOOP, "call")
    assert "Step back out" in body["description"]


def test_forward_stepping_in_the_past(loop_recording, replay_of):
    path, truth = loop_recording
    r = replay_of(path, breakpoints={str(LOOP): [{"line": marker_line(LOOP, "call")}]})
    r.move("reverseContinue")
    r.move("reverseContinue")
    at_call = check_against_truth(r, truth)
    r.move("stepIn")
    event = check_against_truth(r, truth)
    assert event["function"] == "square" and event["line"] == 14
    r.move("stepOut")
    event = check_against_truth(r, truth)
    assert event["function"] == "main" and event["line"] == at_call["line"] + 1
    r.move("next")
    event = check_against_truth(r, truth)
    assert event["line"] == marker_line(LOOP, "move")


def test_reverse_continue_to_the_previous_hit(loop_recording, replay_of):
    path, truth = loop_recording
    line = marker_line(LOOP, "move")
    r = replay_of(path, breakpoints={str(LOOP): [{"line": line}]})
    hits = [e for e in truth.events if e["kind"] == "line" and e["line"] == line]
    assert len(hits) == 5
    for expected in reversed(hits):
        body = r.move("reverseContinue")
        assert body["reason"] == "breakpoint"
        event = check_against_truth(r, truth)
        assert event["step"] == expected["step"]
        assert r.locals(r.top()["id"])["i"] == expected["locals"]["i"]
    body = r.move("reverseContinue")  # none before: the start of the recording
    assert body["description"].startswith("Start of the recording")
    for expected in hits[:3]:
        body = r.move("continue")
        assert body["reason"] == "breakpoint"
        assert check_against_truth(r, truth)["step"] == expected["step"]


def test_conditions_hit_counts_and_logpoints(loop_recording, replay_of):
    path, _truth = loop_recording
    line = marker_line(LOOP, "move")
    r = replay_of(path, breakpoints={str(LOOP): [
        {"line": line, "condition": "i == 1"},
        {"line": marker_line(LOOP, "call"), "hitCondition": "4"},
        {"line": line, "logMessage": "i is {i}, total {total}"},
    ]})
    r.move("reverseContinue")  # from the end: the 4th call (hit condition) is the latest
    assert r.locals(r.top()["id"])["i"] == "3"
    assert r.top()["line"] == marker_line(LOOP, "call")
    r.move("reverseContinue")
    assert r.top()["line"] == line and r.locals(r.top()["id"])["i"] == "1"
    out = r.client.output()
    assert "i is 2, total 5\n" in out and "i is 3, total 14\n" in out


def test_exception_breakpoints_backwards_and_forwards(loop_recording, replay_of):
    path, truth = loop_recording
    r = replay_of(path, exception_filters=["raised"])
    body = r.move("reverseContinue")
    assert body["reason"] == "exception"
    event = check_against_truth(r, truth)
    assert event["kind"] == "exception" and event["function"] == "check"
    assert event["exception"]["value"] == "ValueError('too big 3')"
    body = r.move("continue")
    assert check_against_truth(r, truth)["exception"]["value"] == "ValueError('too big 30')"


def test_goto_the_second_execution_of_a_line(loop_recording, replay_of):
    path, truth = loop_recording
    r = replay_of(path)
    line = 14  # y = x * x
    targets = r.request("gotoTargets", {"source": {"path": str(LOOP)}, "line": line})["targets"]
    hits = [e for e in truth.events if e["kind"] == "line" and e["line"] == line]
    assert len(targets) == len(hits) == 5
    assert targets[1]["label"] == f"step {hits[1]['step']}: x=1"
    r.move("goto", {"targetId": targets[1]["id"]})
    event = check_against_truth(r, truth)
    assert event["step"] == hits[1]["step"] and event["locals"] == {"x": "1"}


def test_data_breakpoint_and_last_write(loop_recording, replay_of):
    path, truth = loop_recording
    r = replay_of(path, breakpoints={str(LOOP): [{"line": marker_line(LOOP, "move")}]})
    r.move("reverseContinue")  # the last iteration, at p.x = total
    frame = r.top()
    assert r.locals(frame["id"])["total"] == "30"
    last = r.request("devsandbox/lastWrite", {"expression": "total", "frameId": frame["id"]})
    assert last["found"] and last["line"] == marker_line(LOOP, "call")
    assert (last["old"], last["new"]) == ("14", "30")
    assert truth.at(1, last["step"])["line"] == last["line"]
    assert truth.at(1, last["step"])["locals"]["total"] == "14"
    # attribute of an object whose repr shows it
    last = r.request("devsandbox/lastWrite", {"expression": "p.x", "frameId": frame["id"]})
    assert last["found"] and last["line"] == marker_line(LOOP, "move")
    assert (last["old"], last["new"]) == ("5", "14")
    # a backward data breakpoint on total stops at the same line
    scopes = r.request("scopes", {"frameId": frame["id"]})["scopes"]
    info = r.request("dataBreakpointInfo", {"variablesReference": scopes[0]["variablesReference"],
                                            "name": "total"})
    assert info["dataId"] and info["accessTypes"] == ["write"]
    r.request("setBreakpoints", {"source": {"path": str(LOOP)}, "breakpoints": []})
    r.request("setDataBreakpoints", {"breakpoints": [{"dataId": info["dataId"]}]})
    body = r.move("reverseContinue")
    assert body["reason"] == "data breakpoint" and "14 to 30" in body["description"]
    event = check_against_truth(r, truth)
    assert event["line"] == marker_line(LOOP, "call") and event["locals"]["total"] == "14"
    body = r.move("reverseContinue")
    assert "5 to 14" in body["description"]
    body = r.move("continue")  # forwards: stops where the new value is first seen
    event = check_against_truth(r, truth)
    assert event["locals"]["total"] == "14" and "5 to 14" in body["description"]


def test_value_history_of_a_loop_variable(loop_recording, replay_of):
    path, truth = loop_recording
    r = replay_of(path)
    frames = r.frames()
    main = next(f for f in frames if f["name"] == "main")
    hist = r.request("devsandbox/valueHistory", {"expression": "i", "frameId": main["id"]})
    assert [c["value"] for c in hist["changes"]] == ["0", "1", "2", "3", "4"]
    for change in hist["changes"]:
        e = truth.at(1, change["step"])
        assert e["locals"]["i"] == change["value"] and e["line"] == change["line"]
        assert truth.at(1, change["step"] - 1)["locals"].get("i") != change["value"]
    hist = r.request("devsandbox/valueHistory", {"expression": "total * 2", "frameId": main["id"]})
    assert [c["value"] for c in hist["changes"]] == ["0", "2", "10", "28", "60"]
    hist = r.request("devsandbox/valueHistory", {"expression": "y", "scope": "recording"})
    assert [d["value"] for d in hist["distinct"]] == ["0", "1", "4", "9", "16"]


def test_evaluate_over_the_past(loop_recording, replay_of):
    path, _truth = loop_recording
    r = replay_of(path)
    main = next(f for f in r.frames() if f["name"] == "main")
    ev = lambda expr: r.request("evaluate", {"expression": expr, "frameId": main["id"],
                                             "context": "watch"})
    assert ev("total + len(items)")["result"] == "35"
    assert ev("[x * 2 for x in items if x % 2]")["result"] == "[2, 6]"
    assert ev("p.y")["result"] == "0"
    assert ev("msg.upper()")["result"] == "'TOO BIG 3'"
    for expr, words in [("square(3)", "live program"), ("items.append(1)", "read-only"),
                        ("__import__('os')", "not defined"), ("2 ** 10 ** 9", "too large")]:
        resp = r.client.request("evaluate", {"expression": expr, "frameId": main["id"]},
                                check=False)
        assert not resp["success"] and words in resp["message"], resp
    items = ev("items")
    children = r.request("variables", {"variablesReference": items["variablesReference"]})
    assert [(v["name"], v["value"]) for v in children["variables"]][:2] == [("[0]", "0"),
                                                                             ("[1]", "1")]


def test_timeline_marks_exceptions(loop_recording, replay_of):
    path, truth = loop_recording
    r = replay_of(path)
    tl = r.request("devsandbox/timeline", {"count": 100})
    calls = tl["calls"]
    assert tl["total"] == len(calls) == len([e for e in truth.events if e["kind"] == "call"])
    checks = [c for c in calls if c["function"] == "check"]
    assert [c["exception"]["value"] for c in checks] == ["ValueError('too big 3')",
                                                         "ValueError('too big 30')"]
    squares = [c for c in calls if c["function"] == "square"]
    assert len(squares) == 5 and all("exception" not in c for c in squares)
    assert all(truth.at(1, c["startStep"])["kind"] == "call" for c in calls)
    page = r.request("devsandbox/timeline", {"start": 2, "count": 2})["calls"]
    assert page == [{k: v for k, v in c.items()} for c in calls[2:4]]


def test_play_backwards_and_stop(loop_recording, replay_of):
    path, truth = loop_recording
    r = replay_of(path)
    start = r.position()["step"]
    mark = r.client.mark()
    assert r.request("devsandbox/play", {"direction": "backward", "stepsPerSecond": 50})["playing"]
    for _ in range(3):
        r.client.event("stopped", timeout=10, start=r.client.mark())
    r.request("pause", {"threadId": 1})
    stops = [m for m in r.client.messages[mark:] if m.get("event") == "stopped"]
    assert stops and all("Playing backwards" in s["body"]["description"] for s in stops)
    assert r.position()["step"] < start
    check_against_truth(r, truth)


def test_threads(tmp_path, replay_of):
    from tt_support import export, record

    path = record(PROGRAMS / "threads_app.py", tmp_path / "t.dsrec")
    truth = export(path)
    worker_line = marker_line(PROGRAMS / "threads_app.py", "acc")
    r = replay_of(path, breakpoints={str(PROGRAMS / "threads_app.py"): [{"line": worker_line}]})
    body = r.move("reverseContinue")
    threads = {t["id"]: t["name"] for t in r.request("threads")["threads"]}
    assert threads[body["threadId"]] == "worker-1"
    frame = r.client.top_frame(body["threadId"])
    pos = r.position()
    e = truth.at(pos["threadId"], pos["step"])
    assert e["thread_name"] == "worker-1" and e["line"] == worker_line
    assert r.locals(frame["id"]) == e["locals"]


def test_data_breakpoint_with_a_condition(loop_recording, replay_of):
    path, truth = loop_recording
    r = replay_of(path)
    main = next(f for f in r.frames() if f["name"] == "main")
    info = r.request("dataBreakpointInfo", {"name": "total", "frameId": main["id"]})
    r.request("setDataBreakpoints", {"breakpoints": [{"dataId": info["dataId"],
                                                      "condition": "total < 10"}]})
    # backwards the condition holds where it stops: the line that makes the change, which sees
    # the old value: 14 -> 30 is skipped (total is 14 there), 5 -> 14 stops
    body = r.move("reverseContinue")
    assert "5 to 14" in body["description"]
    event = check_against_truth(r, truth)
    assert event["locals"]["total"] == "5" and event["line"] == marker_line(LOOP, "call")
    body = r.move("continue")  # forwards it stops where the new value is seen: 14 fails, 30 too
    assert body["description"].startswith("End of the recording")
