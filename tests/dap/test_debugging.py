"""Standard debugging through `devsandbox dap` with a real debugpy and real debuggees."""

from __future__ import annotations

import time

from harness.samples import line, sample

from harness.dap import launch_config

LOOP = sample("loop.py")


def start_at(dap, marker, **bp):
    dap.start("launch", launch_config(LOOP),
              breakpoints={LOOP: [dict({"line": line("loop.py", marker)}, **bp)]})
    stop = dap.stopped()
    frame = dap.top_frame(stop["threadId"])
    return stop, frame


def test_line_breakpoint_stack_scopes_variables(dap):
    stop, frame = start_at(dap, "loop_body")
    assert stop["reason"] == "breakpoint"
    assert frame["line"] == line("loop.py", "loop_body")
    frames = dap.request("stackTrace", {"threadId": stop["threadId"]})["body"]["stackFrames"]
    assert [f["name"] for f in frames] == ["accumulate", "main", "<module>"]
    assert frames[0]["source"]["path"] == LOOP
    scopes = dap.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
    assert [s["name"] for s in scopes][:2] == ["Locals", "Globals"]
    assert dap.locals(frame["id"]) == {"i": "0", "n": "10", "total": "0"}
    # the next hit of the same breakpoint has the next values
    stop = dap.resume("continue", stop["threadId"])
    frame = dap.top_frame(stop["threadId"])
    assert dap.locals(frame["id"])["i"] == "1"


def test_conditional_breakpoint(dap):
    stop, frame = start_at(dap, "loop_body", condition="i == 7")
    assert dap.locals(frame["id"]) == {"i": "7", "n": "10", "total": "21"}


def test_hit_count_breakpoint(dap):
    stop, frame = start_at(dap, "loop_body", hitCondition="3")
    assert dap.locals(frame["id"])["i"] == "2"


def test_logpoint_prints_without_stopping(dap):
    dap.start("launch", launch_config(LOOP), breakpoints={
        LOOP: [{"line": line("loop.py", "loop_body"), "logMessage": "i is {i}, total {total}"}]})
    dap.event("exited", timeout=20)
    bodies = [m["body"] for m in dap.events("output")]
    logged = [b["output"] for b in bodies if "source" in b]  # logpoint messages
    assert "i is 0, total 0\n" in logged and "i is 9, total 36\n" in logged
    printed = "".join(b["output"] for b in bodies if b.get("category") == "stdout"
                      and "source" not in b)
    assert "result 45\n" in printed
    assert not dap.events("stopped")


def test_exception_breakpoint_and_exception_info(dap):
    dap.start("launch", launch_config(LOOP), exception_filters=["raised"])
    stop = dap.stopped()
    assert stop["reason"] == "exception"
    frame = dap.top_frame(stop["threadId"])
    assert frame["line"] == line("loop.py", "raise")
    info = dap.request("exceptionInfo", {"threadId": stop["threadId"]})["body"]
    assert "ValueError" in info["exceptionId"] and "boom" in info["description"]


def test_step_in_over_out(dap):
    stop, frame = start_at(dap, "call_helper")
    tid = stop["threadId"]
    assert dap.resume("stepIn", tid)["reason"] == "step"
    frame = dap.top_frame(tid)
    assert (frame["name"], frame["line"]) == ("helper", line("loop.py", "helper_first"))
    dap.resume("next", tid)
    assert dap.top_frame(tid)["line"] == line("loop.py", "helper_return")
    dap.resume("stepOut", tid)
    frame = dap.top_frame(tid)
    assert frame["name"] == "main"
    # leave the list comprehension and the line
    for _ in range(10):
        if dap.top_frame(tid)["line"] == line("loop.py", "after_helper"):
            break
        dap.resume("next", tid)
    frame = dap.top_frame(tid)
    assert (frame["name"], frame["line"]) == ("main", line("loop.py", "after_helper"))
    assert "values" in dap.locals(frame["id"])


def test_evaluate_and_set_variable_change_the_run(dap):
    stop, frame = start_at(dap, "loop_body")
    value = dap.request("evaluate", {"expression": "total + 100 + n", "frameId": frame["id"],
                                     "context": "watch"})["body"]
    assert value["result"] == "110"
    scopes = dap.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
    ref = scopes[0]["variablesReference"]
    answer = dap.request("setVariable", {"variablesReference": ref, "name": "total",
                                         "value": "1000"})["body"]
    assert answer["value"] == "1000"
    dap.request("setBreakpoints", {"source": {"path": LOOP}, "breakpoints": []})
    dap.resume("continue", stop["threadId"], until="exited")
    assert "result 1045" in dap.output()


def test_set_expression(dap):
    stop, frame = start_at(dap, "loop_body")
    dap.request("setExpression", {"expression": "total", "value": "500", "frameId": frame["id"]})
    assert dap.locals(frame["id"])["total"] == "500"


def test_goto_skips_a_line(dap):
    stop, frame = start_at(dap, "x2")
    targets = dap.request("gotoTargets", {"source": {"path": LOOP},
                                          "line": line("loop.py", "xret")})["body"]["targets"]
    assert targets
    start = dap.mark()
    dap.request("goto", {"threadId": stop["threadId"], "targetId": targets[0]["id"]})
    dap.event("stopped", start=start)
    assert dap.top_frame(stop["threadId"])["line"] == line("loop.py", "xret")
    dap.request("setBreakpoints", {"source": {"path": LOOP}, "breakpoints": []})
    dap.resume("continue", stop["threadId"], until="exited")
    assert "skip 1" in dap.output()


def test_pause_while_running_then_terminate(dap):
    spin = sample("spin.py")
    dap.start("launch", launch_config(spin))
    dap.event("thread", timeout=10)
    time.sleep(0.5)
    start = dap.mark()
    dap.request("pause", {"threadId": 0})
    stop = dap.event("stopped", start=start)["body"]
    assert stop["reason"] == "pause"
    threads = dap.request("threads")["body"]["threads"]
    assert any(t["name"] == "MainThread" for t in threads)
    frames = dap.request("stackTrace", {"threadId": stop["threadId"]})["body"]["stackFrames"]
    assert any(f["name"] == "spin" for f in frames)
    dap.request("continue", {"threadId": stop["threadId"]})
    start = dap.mark()
    dap.request("terminate")
    dap.event("terminated", start=start, timeout=15)
    dap.request("disconnect", check=False)


def test_crashing_debuggee_reports_exit_code_and_server_serves_again(dap):
    crash = sample("crash.py")
    dap.start("launch", launch_config(crash, args=["exit"]))
    assert dap.event("exited", timeout=20)["body"]["exitCode"] == 3
    dap.event("terminated")
    dap.request("disconnect")
    # an uncaught exception: the exit code is 1, and the same server starts a new session
    start = dap.mark()
    dap.start("launch", launch_config(crash))
    assert dap.event("exited", start=start, timeout=20)["body"]["exitCode"] == 1
    assert "RuntimeError: the program crashed" in dap.output()


def test_module_launch_with_args_and_cwd(dap, tmp_path):
    pkg_parent = sample("")
    dap.start("launch", {"module": "pkgdemo", "args": ["a", "b"], "cwd": pkg_parent,
                         "console": "internalConsole"},
              breakpoints={sample("pkgdemo/__main__.py"): [{"line": line("pkgdemo/__main__.py",
                                                                         "module_line")}]})
    stop = dap.stopped()
    frame = dap.top_frame(stop["threadId"])
    assert dap.locals(frame["id"])["args"] == "['a', 'b']"
    dap.request("setBreakpoints", {"source": {"path": sample("pkgdemo/__main__.py")},
                                   "breakpoints": []})
    dap.resume("continue", stop["threadId"], until="exited")
    assert "module args ['a', 'b']" in dap.output()


def test_env_and_env_file(dap, tmp_path):
    program = tmp_path / "envprog.py"
    program.write_text("import os\nprint('A', os.environ.get('A'), 'B', os.environ.get('B'))\n")
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nA=from-file\nexport B='quoted value'\n")
    dap.start("launch", launch_config(str(program), env={"A": "from-env"}, envFile=str(env_file)))
    dap.event("exited", timeout=20)
    assert "A from-env B quoted value" in dap.output()


def test_subprocess_appears_as_child_session(dap):
    parent, child = sample("parent.py"), sample("child.py")
    child_line = line("child.py", "child_line")
    sessions = []

    def start_debugging(request):
        config = request["arguments"]["configuration"]
        sub = dap.make()
        sessions.append(sub)
        import threading

        def run():
            sub.start("attach", config, breakpoints={child: [{"line": child_line}]})
        threading.Thread(target=run, daemon=True).start()
        return {}

    dap.reverse_handlers["startDebugging"] = start_debugging
    dap.start("launch", launch_config(parent, subProcess=True))
    deadline = time.time() + 20
    while not sessions and time.time() < deadline:
        time.sleep(0.05)
    assert sessions, "no startDebugging request for the subprocess"
    sub = sessions[0]
    stop = sub.stopped(timeout=20)
    frame = sub.top_frame(stop["threadId"])
    assert frame["line"] == child_line
    assert sub.locals(frame["id"])["who"] == "'from-parent'"
    sub.request("setBreakpoints", {"source": {"path": child}, "breakpoints": []})
    sub.request("continue", {"threadId": stop["threadId"]})
    dap.event("exited", timeout=20)
    assert "child said hello from-parent exit 0" in dap.output()


def test_subprocess_the_client_declines_still_runs(dap):
    # No startDebugging handler: the client refuses the child session, and the
    # child must not wait for a debugger for ever.
    dap.start("launch", launch_config(sample("parent.py"), subProcess=True))
    dap.event("exited", timeout=30)
    assert "child said hello from-parent exit 0" in dap.output()
    assert "runs without the debugger" in dap.output()
