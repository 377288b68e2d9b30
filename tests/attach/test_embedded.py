"""Embedded mode: a program calls ``devsandbox.listen(PORT)``; the editor attaches to it."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time

import pytest
from attach_support import EMBEDDED, free_port_pair, marker_line

from devsandbox.agent import wire
from devsandbox.agent_link import AgentHub
from devsandbox.errors import InvalidRequest
from devsandbox.inject import read_embedded_registry

pytestmark = pytest.mark.timeout(120)

WORK_BODY = marker_line(EMBEDDED, "work_body")


def start_embedded(programs, port: int, run_for: float = 120.0):
    return programs.start([sys.executable, EMBEDDED, str(port), str(run_for)], ready="listening")


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_registry_file_is_private_and_removed_at_exit(runtime_dir, programs):
    port = free_port_pair()
    proc = start_embedded(programs, port, run_for=3)
    path = runtime_dir / "devsandbox" / f"embedded-{port}.json"
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    entry = read_embedded_registry(port)
    assert entry is not None
    assert entry == json.loads(path.read_text())
    assert entry["pid"] == proc.pid and entry["port"] == port and entry["agent_port"] == port + 1
    assert entry["host"] == "127.0.0.1" and len(entry["token"]) >= 24
    assert entry["program"] == EMBEDDED and entry["python"] == sys.executable
    assert proc.wait(30) == 0
    assert not path.exists()
    assert read_embedded_registry(port) is None


def test_stale_registry_files_are_cleaned(runtime_dir, programs):
    directory = runtime_dir / "devsandbox"
    directory.mkdir(mode=0o700)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = directory / "embedded-1.json"
    stale.write_text(
        json.dumps(
            {
                "pid": dead.pid,
                "host": "127.0.0.1",
                "port": 1,
                "agent_port": 2,
                "token": "x",
                "python": "p",
                "program": "q",
            }
        )
    )
    stale.chmod(0o600)
    assert read_embedded_registry(1) is None  # the server ignores entries of dead programs
    start_embedded(programs, free_port_pair())
    assert not stale.exists()


def test_token_from_environment(runtime_dir, programs, monkeypatch):
    monkeypatch.setenv(wire.ENV_TOKEN, "a-token-from-the-environment")
    port = free_port_pair()
    start_embedded(programs, port)
    assert read_embedded_registry(port)["token"] == "a-token-from-the-environment"


def run_snippet(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, **env),
    )


def test_listen_twice_is_an_error(runtime_dir):
    port = free_port_pair()
    proc = run_snippet(
        "import devsandbox\n"
        f"print(devsandbox.listen({port}))\n"
        "try:\n"
        f"    devsandbox.listen({port} + 10)\n"
        "except RuntimeError as exc:\n"
        "    print('error:', exc)\n"
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()[:2]
    assert first == f"('127.0.0.1', {port})"
    assert second.startswith("error: devsandbox.listen() was already called")
    assert f"127.0.0.1:{port}" in second


def test_non_loopback_host_needs_an_explicit_token(runtime_dir):
    proc = run_snippet(
        "import devsandbox\n"
        "try:\n"
        "    devsandbox.listen(0, host='0.0.0.0')\n"
        "except ValueError as exc:\n"
        "    print('error:', exc)\n",
        DEVSANDBOX_TOKEN="",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(
        "error: devsandbox.listen(host='0.0.0.0') makes the program reachable"
    )
    assert '"devsandbox": {"token": ..., "agentPort": ...}' in proc.stdout


def test_wait_for_client_before_listen_is_an_error(runtime_dir):
    proc = run_snippet(
        "import devsandbox\n"
        "try:\n"
        "    devsandbox.wait_for_client()\n"
        "except RuntimeError as exc:\n"
        "    print('error:', exc)\n"
    )
    assert (
        proc.stdout.strip() == "error: devsandbox.wait_for_client() needs devsandbox.listen() first"
    )


def test_agent_port_in_use_is_reported(runtime_dir):
    port = free_port_pair()
    proc = run_snippet(
        "import socket, devsandbox\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "busy = s.getsockname()[1]\n"
        "try:\n"
        f"    devsandbox.listen({port}, agent_port=busy)\n"
        "except RuntimeError as exc:\n"
        "    print('error:', exc)\n"
        "import json, os\n"
        f"print(devsandbox.listen({port}, agent_port=0))\n"  # retry: debugpy's listener is reused
        "from devsandbox.agent import wire\n"
        f"print(json.load(open(wire.registry_file({port})))['agent_port'] != busy)\n"
    )
    assert proc.returncode == 0, proc.stderr
    error, retried, other_port = proc.stdout.splitlines()
    assert error.startswith(
        f"error: devsandbox.listen(): debugpy is listening on 127.0.0.1:{port}, "
        "but the DevSandbox agent could not listen"
    )
    assert "agent_port=" in error
    assert retried == f"('127.0.0.1', {port})"
    assert other_port == "True"


# -- the agent side, through the server's AgentHub -----------------------------------------------


def test_hub_connects_to_embedded_agent_and_reconnects(runtime_dir, programs):
    port = free_port_pair()
    proc = start_embedded(programs, port)
    entry = read_embedded_registry(port)
    assert entry is not None

    async def scenario() -> None:
        states: list[str] = []
        hub = AgentHub(on_state=lambda state, message: states.append(state))
        try:
            conn = await hub.connect("127.0.0.1", entry["agent_port"], entry["token"], retry=True)
            assert conn.pid == proc.pid
            report = await hub.discover()
            assert report["pid"] == proc.pid
            assert EMBEDDED in report["argv"][0]
            # the connection drops (server side): the hub reconnects on its own
            await conn.close()
            again = await hub.wait_for_agent(proc.pid, timeout=15)
            assert again is not conn
            assert (await hub.discover())["pid"] == proc.pid
            assert states[-1] == "connected" and "connecting" in states[1:]
        finally:
            await hub.close()

    asyncio.run(scenario())


def test_hub_reconnects_to_a_restarted_program(runtime_dir, programs, monkeypatch):
    """The program restarts on the same ports with the same token: the hub follows it."""
    monkeypatch.setenv(wire.ENV_TOKEN, "token-kept-across-restarts")
    port = free_port_pair()
    first = start_embedded(programs, port)

    async def scenario() -> None:
        hub = AgentHub()
        try:
            await hub.connect("127.0.0.1", port + 1, "token-kept-across-restarts", retry=True)
            assert (await hub.discover())["pid"] == first.pid
            first.kill()
            first.wait()
            await asyncio.sleep(0.5)  # the hub notices and starts backing off
            second = await asyncio.to_thread(start_embedded, programs, port)
            conn = await hub.wait_for_agent(second.pid, timeout=20)
            assert conn.pid == second.pid
            assert (await hub.discover())["pid"] == second.pid
        finally:
            await hub.close()

    asyncio.run(scenario())


def test_hub_with_wrong_token_is_refused(runtime_dir, programs):
    port = free_port_pair()
    start_embedded(programs, port)

    async def scenario() -> None:
        hub = AgentHub()
        try:
            with pytest.raises(InvalidRequest, match="refused"):
                await hub.connect("127.0.0.1", port + 1, "not-the-token", retry=True)
            assert not hub.agents
        finally:
            await hub.close()

    asyncio.run(scenario())


# -- the whole flow through `devsandbox dap` -------------------------------------------------------


def attach_embedded(dap, port: int, devsandbox_section: dict | None = None) -> dict:
    config = {
        "connect": {"host": "127.0.0.1", "port": port},
        "devsandbox": devsandbox_section
        if devsandbox_section is not None
        else {"agentPort": port + 1},
    }
    dap.start("attach", config, breakpoints={EMBEDDED: [{"line": WORK_BODY}]})
    return dap.stopped(30)


def test_attach_through_devsandbox_dap(runtime_dir, programs, dap_server):
    port = free_port_pair()
    proc = start_embedded(programs, port)
    dap = dap_server()
    stop = attach_embedded(dap, port)
    assert stop["reason"] == "breakpoint"
    frame = dap.top_frame(stop["threadId"])
    assert frame["name"] == "work" and frame["line"] == WORK_BODY
    assert set(dap.locals(frame["id"])) == {"i"}
    # the agent answers while the program is stopped ...
    state = dap.request("devsandbox/connectionState")["body"]
    assert state["state"] == "connected" and state["agents"] == [proc.pid]
    assert dap.request("devsandbox/discover", {}, timeout=30)["body"]["pid"] == proc.pid
    # ... and while it runs
    dap.request("setBreakpoints", {"source": {"path": EMBEDDED}, "breakpoints": []})
    dap.request("continue", {"threadId": stop["threadId"]})
    report = dap.request("devsandbox/discover", {}, timeout=30)["body"]
    main = next(t for t in report["threads"] if t["main"])
    assert {f["function"] for f in main["stack"]} >= {"main", "<module>"}
    dap.request("disconnect", {})
    assert dap.close() == 0
    time.sleep(0.5)
    assert proc.poll() is None, "the program must keep running after the editor detaches"

    # a second session attaches to the same program
    dap = dap_server()
    stop = attach_embedded(dap, port, devsandbox_section={})  # agentPort defaults to port + 1
    frame = dap.top_frame(stop["threadId"])
    assert frame["name"] == "work"
    assert dap.request("devsandbox/discover", {}, timeout=30)["body"]["pid"] == proc.pid
    dap.request("disconnect", {})


def test_attach_with_explicit_token(runtime_dir, programs, dap_server, monkeypatch):
    monkeypatch.setenv(wire.ENV_TOKEN, "explicit-token-for-the-agent")
    port = free_port_pair()
    proc = start_embedded(programs, port)
    (runtime_dir / "devsandbox" / f"embedded-{port}.json").unlink()  # as if on another machine
    dap = dap_server(env={k: v for k, v in os.environ.items() if k != wire.ENV_TOKEN})
    attach_embedded(dap, port, {"agentPort": port + 1, "token": "explicit-token-for-the-agent"})
    assert dap.request("devsandbox/discover", {}, timeout=30)["body"]["pid"] == proc.pid
