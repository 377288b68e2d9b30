"""Recording while debugging: through `devsandbox dap` with a real debugpy, with
``"devsandbox": {"record": true}`` in the launch configuration.

The debugger keeps working (breakpoints, step in/over/out, pause, setVariable,
goto) and the recording equals the reference recorder's run of the same
program with the same edits replayed at the same events (setVariable and goto
change the run), event for event and repr for repr; the edits appear in the
recording as explicit marks.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devsandbox.dapclient import DapClient

from .conftest import PROGRAMS, assert_same, export, reference

APP = PROGRAMS / "debuggee" / "app.py"
SPIN = PROGRAMS / "spin" / "spinlib.py"


def at(path: Path, marker: str) -> int:
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if f"# @{marker}" in text:
            return number
    raise LookupError(marker)


@pytest.fixture
def dap():
    client = DapClient()
    yield client
    if not client.closed:
        try:
            client.request("disconnect", {"terminateDebuggee": True}, timeout=5, check=False)
        except Exception:
            pass
    assert client.close() == 0


def _recording(cwd: Path, timeout: float = 20.0) -> Path:
    """The recording the debuggee wrote under its working directory (finished at exit)."""
    deadline = time.monotonic() + timeout
    while True:
        found = sorted((cwd / ".devsandbox" / "recordings").glob("*.dsrec"))
        if found:
            return found[0]
        assert time.monotonic() < deadline, "no recording under .devsandbox/recordings"
        time.sleep(0.1)


def _frame(dap: DapClient, tid: int) -> tuple[dict, dict[str, str]]:
    frame = dap.top_frame(tid)
    values = {k: v for k, v in dap.locals(frame["id"]).items() if " " not in k}
    return frame, values


def _set(dap: DapClient, frame: dict, name: str, value: str) -> None:
    scopes = dap.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
    body = dap.request("setVariable", {"variablesReference": scopes[0]["variablesReference"],
                                       "name": name, "value": value})["body"]
    assert body["value"] == value


def test_debugging_while_recording_matches_reference(dap, tmp_path):
    lines = {m: at(APP, m) for m in ("call_helper", "helper_first", "helper_return",
                                     "worker_body", "loop_body", "x2", "xret")}
    config = {"program": str(APP), "console": "internalConsole", "justMyCode": True,
              "python": sys.executable, "cwd": str(tmp_path),
              "devsandbox": {"record": True, "include": [str(APP.parent) + "/*"]}}
    breakpoints = [{"line": lines["call_helper"]},
                   {"line": lines["worker_body"], "condition": "k == 2"},
                   {"line": lines["loop_body"]}, {"line": lines["x2"]}]
    dap.start("launch", config, breakpoints={str(APP): breakpoints})
    seen: list[tuple[str, int, dict[str, str]]] = []  # what the debugger showed at each stop

    def where(tid: int) -> tuple[str, int, dict[str, str]]:
        frame, values = _frame(dap, tid)
        seen.append((frame["name"], frame["line"], values))
        return seen[-1]

    # breakpoint, step in, over, out
    stop = dap.stopped(timeout=30)
    tid = stop["threadId"]
    assert where(tid)[:2] == ("main", lines["call_helper"])
    assert dap.resume("stepIn", tid)["reason"] == "step"
    assert where(tid)[:2] == ("helper", lines["helper_first"])
    dap.resume("next", tid)
    assert where(tid) == ("helper", lines["helper_return"], {"x": "1", "y": "2"})
    dap.resume("stepOut", tid)
    assert where(tid)[0] == "main"
    # a conditional breakpoint in another thread, and a step there
    stop = dap.resume("continue", tid)
    worker = stop["threadId"]
    assert worker != tid
    name, line, values = where(worker)
    assert (name, line, values["k"], values["acc"]) == ("worker", lines["worker_body"], "2",
                                                         "[0, 1]")
    dap.resume("next", worker)
    where(worker)
    # setVariable at the first pass of the loop: the run changes
    stop = dap.resume("continue", worker)
    tid = stop["threadId"]
    assert where(tid) == ("accumulate", lines["loop_body"], {"n": "10", "total": "0", "i": "0"})
    _set(dap, dap.top_frame(tid), "total", "1000")
    dap.request("setBreakpoints", {"source": {"path": str(APP)},
                                   "breakpoints": [{"line": lines["x2"]}]})
    # goto skips `x = 2`
    dap.resume("continue", tid)
    assert where(tid)[:2] == ("skip_demo", lines["x2"])
    targets = dap.request("gotoTargets", {"source": {"path": str(APP)},
                                          "line": lines["xret"]})["body"]["targets"]
    start = dap.mark()
    dap.request("goto", {"threadId": tid, "targetId": targets[0]["id"]})
    dap.event("stopped", start=start)
    assert where(tid)[:2] == ("skip_demo", lines["xret"])
    # pause the spinning program (outside the recorded scope), release it, run to the end
    dap.request("setBreakpoints", {"source": {"path": str(APP)}, "breakpoints": []})
    dap.resume("continue", tid, until="continued")
    deadline = time.monotonic() + 20
    while "gen 60" not in dap.output("stdout"):
        assert time.monotonic() < deadline, dap.output()
        time.sleep(0.05)
    start = dap.mark()
    dap.request("pause", {"threadId": tid})
    assert dap.stopped(start=start)["reason"] == "pause"
    frame, values = _frame(dap, tid)
    assert frame["source"]["path"] == str(SPIN)
    _set(dap, frame, "released", "True")
    dap.resume("continue", tid, until="exited", timeout=20)
    out = dap.output("stdout")
    assert "result 1045" in out and "skip 1" in out, out

    recording = _recording(tmp_path)
    ours = _wait_complete(recording)
    ref_out = tmp_path / "ref.jsonl"
    edits = [{"function": "accumulate", "line": lines["loop_body"], "hit": 1,
              "set": {"total": "1000"}},
             {"function": "skip_demo", "line": lines["x2"], "hit": 1, "goto": lines["xret"]}]
    ref = reference(APP, ref_out, edits=edits, extra_env={"SPIN_FREE": "1"})
    assert ref.returncode == 0, ref.stderr
    assert "result 1045" in ref.stdout and "skip 1" in ref.stdout
    ref_events = [json.loads(x) for x in ref_out.read_text().splitlines()]
    assert_same(_without_module_dunders(ours), _without_module_dunders(ref_events))

    # every stop (in the recorded scope) is a recorded step with the values the debugger showed
    for name, line, values in seen:
        if name in ("helper", "accumulate", "worker", "skip_demo", "main"):
            assert any(e["function"].split(".")[-1] == name and e["line"] == line
                       and all(e["locals"].get(k) == v for k, v in values.items())
                       for e in ours), (name, line, values)

    # the user's edits are explicit marks, in the thread they were made in
    marks = [e for e in export(recording, marks=True) if e["kind"] == "mark"]
    kinds = [(m["mark"], json.loads(m["text"])) for m in marks]
    assert ("goto", {"from": lines["x2"], "to": lines["xret"]}) in kinds, kinds
    # setVariable; other resumes show what other threads changed while this one was held
    resumes = [text for kind, text in kinds if kind == "resume"]
    assert {"event": "line", "line": lines["loop_body"]} in resumes, kinds
    assert all(m["thread_name"] == "MainThread" for m in marks)


def _wait_complete(recording: Path, timeout: float = 20.0) -> list[dict]:
    """Exported events once the recording is finished (the program wrote its end record)."""
    deadline = time.monotonic() + timeout
    while True:
        info = subprocess.run([sys.executable, "-m", "devsandbox", "info", "--json",
                               str(recording)], capture_output=True, text=True)
        if info.returncode == 0 and json.loads(info.stdout).get("complete"):
            return export(recording)
        assert time.monotonic() < deadline, info.stdout + info.stderr
        time.sleep(0.2)


_MODULE = re.compile(r"<module '([^']+)'[^>]*>")
_THREAD = re.compile(r"(<Thread\(\w+, \w+) \d+\)>")


def _without_module_dunders(events: list[dict]) -> list[dict]:
    """A module's locals are its globals: their dunders differ between runpy (debugpy) and the
    reference's runner; debugpy runs the program with frozen modules off, so module
    reprs say where the module came from; thread idents differ between runs."""
    out = []
    for ev in events:
        values = {k: _THREAD.sub(r"\1)>", _MODULE.sub(r"<module '\1'>", v))
                  for k, v in ev["locals"].items()}
        if ev["function"] == "<module>":
            values = {k: v for k, v in values.items()
                      if not (k.startswith("__") and k.endswith("__"))}
        out.append(dict(ev, locals=values))
    return out


def test_terminal_debugger_records(tmp_path):
    program = tmp_path / "prog.py"
    program.write_text("def f(n):\n    return n * 2\n\nprint(f(21))\n")
    proc = subprocess.run(
        [sys.executable, "-m", "devsandbox", "debug", "--record", "--no-stop-on-entry",
         "--cwd", str(tmp_path), str(program)],
        input="", capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "42" in proc.stdout
    events = _wait_complete(_recording(tmp_path))
    assert [(e["kind"], e["function"], e["line"]) for e in events if e["function"] == "f"] == [
        ("call", "f", 1), ("line", "f", 2), ("return", "f", 2)]
    assert events[-1]["kind"] == "return" and events[-1]["function"] == "<module>"


PRIVATE = PROGRAMS / "debuggee" / "private.py"


def test_console_change_to_a_private_value_is_recorded(dap, tmp_path):
    """A list that only the stopped frame refers to, changed by an expression evaluated in
    the debug console, is shown changed at the next steps although their lines do not name it
    (the recorder skips such private values after lines that do not name them: not after a
    debugger ran)."""
    stop_line, after_line = at(PRIVATE, "stop"), at(PRIVATE, "after")
    config = {"program": str(PRIVATE), "console": "internalConsole", "justMyCode": True,
              "python": sys.executable, "cwd": str(tmp_path),
              "devsandbox": {"record": True, "include": [str(PRIVATE.parent) + "/*"]}}
    dap.start("launch", config, breakpoints={str(PRIVATE): [{"line": stop_line}]})
    tid = dap.stopped(timeout=30)["threadId"]
    frame = dap.top_frame(tid)
    assert frame["line"] == stop_line
    dap.request("evaluate", {"expression": "data.append(99)", "frameId": frame["id"],
                             "context": "repl"})
    dap.resume("continue", tid, until="exited", timeout=20)
    assert "[1, 2, 99]" in dap.output("stdout")
    events = _wait_complete(_recording(tmp_path))
    shown = [e["locals"].get("data") for e in events
             if e["function"] == "main" and e["kind"] == "line" and e["line"] > stop_line]
    assert shown and all(v == "[1, 2, 99]" for v in shown), shown
    assert any(e["line"] == after_line for e in events if e["function"] == "main")
