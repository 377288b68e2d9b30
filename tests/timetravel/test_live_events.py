"""The live program's own events while the session is in its past (livepast.LiveLink.hold).

A real debugpy, a recorded two-thread program: the session steps back in the main thread, then
the worker thread stops at a breakpoint.  The client must not get a stopped event for a live
thread whose stack the past view would answer from the recording: it is told in an output event,
the past view stays as it was, and returning to the live point delivers the worker's stop.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path

import pytest
from tt_support import PROGRAMS, env, marker_line

from devsandbox.dapclient import DapClient

PROGRAM = PROGRAMS / "stray_stop.py"
PAST = 1_000_000_000

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


def open_writer(path: Path, timeout: float = 30) -> int:
    """Open a FIFO for writing once its reader waits on it (without blocking before)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.fixture
def session(tmp_path: Path):
    client = DapClient([sys.executable, "-m", "devsandbox", "dap"], env=env())
    writers: list[int] = []
    yield client, tmp_path, writers
    for fd in writers:
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        client.request("disconnect", {"terminateDebuggee": True}, timeout=15, check=False)
    finally:
        client.close()


def frames(client: DapClient, tid: int) -> list[dict]:
    return client.request("stackTrace", {"threadId": tid})["body"]["stackFrames"]


def test_a_live_stop_while_in_the_past_waits_for_the_live_point(session):
    client, tmp, writers = session
    go, wait = tmp / "go", tmp / "wait"
    os.mkfifo(go)
    os.mkfifo(wait)
    worker_line, loop_line = marker_line(PROGRAM, "worker_bp"), marker_line(PROGRAM, "main_loop")
    condition = "open(wait).read() == 'now' and print('worker released', flush=True) is None"
    client.start("launch", {"program": str(PROGRAM), "args": [str(go), str(wait)],
                            "console": "internalConsole",
                            "devsandbox": {"record": True, "recordingPath": str(tmp)}},
                 breakpoints={str(PROGRAM): [{"line": loop_line},
                                             {"line": worker_line, "condition": condition}]},
                 timeout=60)
    writers.append(open_writer(wait))  # the worker evaluates its breakpoint's condition
    os.close(open_writer(go))  # main goes on to its breakpoint
    main_tid = client.stopped(timeout=60)["threadId"]
    threads = {t["name"]: t["id"] for t in client.request("threads")["body"]["threads"]}
    worker_tid = threads["worker-1"]

    body = client.resume("stepBack", main_tid)
    assert body["description"].startswith("Step back: step")
    before = client.request("devsandbox/position")["body"]
    past_main = frames(client, main_tid)
    assert past_main[0]["line"] == loop_line - 1 and past_main[0]["id"] >= PAST

    mark = client.mark()
    os.write(writers[0], b"now")
    os.close(writers.pop())  # the condition is true: the worker stops in the live program
    told = client.event("output", timeout=30, start=mark,
                        where=lambda b: "live program stopped" in b.get("output", ""))["body"]
    assert told["category"] == "important"
    assert "thread 'worker-1' stopped (breakpoint) in worker" in told["output"]
    assert f"stray_stop.py:{worker_line}" in told["output"]
    # the program's own output is relayed as it comes
    client.wait_for(lambda m: m.get("event") == "output"
                    and "worker released" in (m.get("body") or {}).get("output", ""),
                    timeout=10, start=mark)
    # no stopped event, the same position, the same past stacks (recorded ids)
    assert not [m for m in client.messages[mark:] if m.get("event") in ("stopped", "continued")]
    position = client.request("devsandbox/position")["body"]
    assert position["inPast"] and position["step"] == before["step"]
    assert position["livePoint"] == {"state": "paused", "changed": True,
                                     "threadId": worker_tid, "reason": "breakpoint"}
    again = frames(client, main_tid)
    assert [(f["name"], f["line"]) for f in again] == [(f["name"], f["line"]) for f in past_main]
    assert all(f["id"] >= PAST for f in again + frames(client, worker_tid))

    # forwards to the live point: the worker's stop, as debugpy reported it
    body = client.resume("next", main_tid)
    assert body["threadId"] == worker_tid and body["reason"] == "breakpoint"
    assert body["hitBreakpointIds"]
    assert body["description"].startswith("Back at the live point, where thread 'worker-1' "
                                          "stopped (breakpoint)")
    assert client.request("devsandbox/position")["body"]["inPast"] is False
    live_worker = frames(client, worker_tid)
    assert live_worker[0]["id"] < PAST  # debugpy's frames now
    assert (live_worker[0]["name"], live_worker[0]["line"]) == ("worker", worker_line)
    assert frames(client, main_tid)[0]["line"] == loop_line
    error = client.request("devsandbox/returnToLive", {}, check=False)
    assert not error["success"] and "Not in the past" in error["message"]

    # live debugging goes on: main's next hit of its breakpoint
    body = client.resume("continue", main_tid)
    assert body["threadId"] == main_tid
    scopes = client.request("scopes", {"frameId": frames(client, main_tid)[0]["id"]})["body"]
    names = client.request("variables", {"variablesReference": scopes["scopes"][0][
        "variablesReference"]})["body"]["variables"]
    assert {v["name"]: v["value"] for v in names}["i"] == "1"


def test_return_to_live_delivers_the_held_stop_at_once(session):
    client, tmp, writers = session
    go, wait = tmp / "go", tmp / "wait"
    os.mkfifo(go)
    os.mkfifo(wait)
    worker_line, loop_line = marker_line(PROGRAM, "worker_bp"), marker_line(PROGRAM, "main_loop")
    client.start("launch", {"program": str(PROGRAM), "args": [str(go), str(wait)],
                            "console": "internalConsole",
                            "devsandbox": {"record": True, "recordingPath": str(tmp)}},
                 breakpoints={str(PROGRAM): [{"line": loop_line}, {
                     "line": worker_line, "condition": "open(wait).read() == 'now'"}]},
                 timeout=60)
    writers.append(open_writer(wait))
    os.close(open_writer(go))
    main_tid = client.stopped(timeout=60)["threadId"]
    for _ in range(2):
        client.resume("stepBack", main_tid)
    mark = client.mark()
    os.write(writers[0], b"now")
    os.close(writers.pop())
    client.event("output", timeout=30, start=mark,
                 where=lambda b: "live program stopped" in b.get("output", ""))
    body = client.resume("devsandbox/returnToLive", main_tid)
    assert body["reason"] == "breakpoint" and "worker-1" in body["description"]
    assert frames(client, body["threadId"])[0]["line"] == worker_line
