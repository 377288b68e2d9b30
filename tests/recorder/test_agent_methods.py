"""The recorder under the agent, through a real server <-> agent connection: a launched program
records from its first line ("record": true in the agent's options) and the server drives the
recording with the recorder/* methods."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devsandbox.agent_link import AgentHub
from devsandbox.recording.reader import Recording

from .conftest import PROGRAMS, export

STEPPER = PROGRAMS / "agent" / "stepper.py"


def _env(hub: AgentHub, options: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSANDBOX_")}
    env.pop("PYTHONPATH", None)
    env.update(hub.launch_env(options))
    return env


async def _line(proc: subprocess.Popen, prefix: str) -> str:
    def read() -> str:
        for line in proc.stdout:
            if line.startswith(prefix):
                return line.strip()
        raise AssertionError(f"no {prefix!r}; stderr: {proc.stderr.read()}")

    return await asyncio.wait_for(asyncio.to_thread(read), 20)


@pytest.fixture
async def hub():
    hub = AgentHub()
    await hub.listen()
    yield hub
    await hub.close()


@pytest.fixture
def launch(tmp_path):
    procs: list[subprocess.Popen] = []

    def start(env: dict[str, str]) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, str(STEPPER)], cwd=tmp_path, env=env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()


def _send(proc: subprocess.Popen, text: str) -> None:
    proc.stdin.write(text + "\n")
    proc.stdin.flush()


async def _until_idle(conn, name: str) -> None:
    """Until thread `name` has taken no step for 0.2 s (blocked reading stdin): after printing
    it still runs a few steps to get there, which a flush meanwhile would not hold."""
    last = None
    for _ in range(100):
        status = await conn.call("recorder/status")
        steps = next(t["steps"] for t in status["threads"] if t["name"] == name)
        if steps == last:
            return
        last = steps
        await asyncio.sleep(0.2)


async def test_status_mark_flush_stop(hub, launch, tmp_path):
    proc = launch(_env(hub, {"record": True}))
    await _line(proc, "ready")
    conn = await hub.wait_for_agent(proc.pid)
    status = await conn.call("recorder/status")
    assert status["running"] is True
    path = Path(status["path"])
    assert path.parent == tmp_path / ".devsandbox" / "recordings" and path.suffix == ".dsrec"
    assert path.name.startswith("stepper-") and path.name.endswith(f"-{proc.pid}.dsrec")
    assert [t["name"] for t in status["threads"]] == ["MainThread"]

    # a mark for the main thread (blocked reading stdin): written before its next event
    answer = await conn.call("recorder/mark", {"kind": "setVariable", "text": '{"name": "x"}'})
    assert answer["recorded"] is True
    _send(proc, "go")
    assert await _line(proc, "done") == "done 3"

    await _until_idle(conn, "MainThread")
    flushed = await conn.call("recorder/flush")
    assert flushed["path"] == str(path) and flushed["complete"] is True
    main = next(t for t in flushed["threads"] if t["name"] == "MainThread")
    with Recording(str(path)) as rec:  # everything up to that step is in the file now
        steps = [ev for ev in rec.events(marks=True) if ev.thread == main["tid"]]
    recorded = [ev for ev in steps if ev.kind != "mark"]
    assert recorded[-1].step == main["last_step"] == main["steps"] - 1
    assert any(ev.code and ev.code.qualname == "work" and ev.kind == "return" for ev in recorded)
    marks = [ev for ev in steps if ev.kind == "mark"]
    assert [(m.mark, m.value) for m in marks] == [("setVariable", '{"name": "x"}')]
    # the mark sits where the program was held: after `for line in sys.stdin`, before work()
    before = [ev for ev in steps if ev.step < marks[0].step or ev is marks[0]]
    assert before[-2].code.qualname == "main"

    stopped = await conn.call("recorder/stop")
    assert stopped["path"] == str(path) and stopped["running"] is False
    assert (await conn.call("recorder/status"))["running"] is False
    _send(proc, "quit")
    assert await _line(proc, "bye") == "bye"
    assert proc.wait(10) == 0
    events = export(path)
    assert events and all(e["function"] in ("main", "work", "<module>") for e in events)


async def test_start_on_request_into_recording_path(hub, launch, tmp_path):
    out_dir = tmp_path / "recs"
    proc = launch(_env(hub, {"recordingPath": str(out_dir)}))  # not recording at start
    await _line(proc, "ready")
    conn = await hub.wait_for_agent(proc.pid)
    assert (await conn.call("recorder/status"))["running"] is False
    status = await conn.call("recorder/start", {"options": {"functions": ["work"]}})
    assert status["running"] is True and Path(status["path"]).parent == out_dir
    _send(proc, "go")
    await _line(proc, "done")
    _send(proc, "quit")
    await _line(proc, "bye")
    assert proc.wait(10) == 0  # stopped and finished at exit
    with Recording(status["path"]) as rec:
        assert rec.complete and rec.end["reason"] == "exit"
    events = export(Path(status["path"]))
    assert {e["function"] for e in events} == {"work"}
    assert [e["kind"] for e in events][:2] == ["call", "line"]
