"""The server <-> agent channel with real programs: tokens, the launch bootstrap, embedded mode."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from agent_support import Programs, Recorder, clean_env, read_line

from devsandbox.agent import wire
from devsandbox.agent_link import BOOTSTRAP_PREFIX, AgentHub
from devsandbox.errors import CannotHandle, InvalidRequest, PeerGone
from devsandbox.wire.framing import FrameParser, encode


async def _raw_hello(address: tuple[str, int], token: str) -> tuple[dict, bytes]:
    """Say hello as an agent would; return the answer and whatever came after it."""
    reader, writer = await asyncio.open_connection(*address)
    hello = {"token": token, "protocol": wire.PROTOCOL_VERSION, "role": "agent", "pid": os.getpid()}
    writer.write(encode({"jsonrpc": "2.0", "id": 7, "method": wire.HELLO, "params": hello}))
    parser = FrameParser()
    answer = None
    while answer is None:
        data = await asyncio.wait_for(reader.read(65536), 5)
        assert data, "closed without an answer"
        answer = next(iter(parser.feed(data)), None)
    rest = await asyncio.wait_for(reader.read(), 5)  # b"" once the hub closed the connection
    writer.close()
    return answer, rest


async def test_wrong_token_is_refused_logged_and_closed(
    hub: AgentHub, recorder: Recorder, programs: Programs, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("devsandbox.agent_link")
    logger.addHandler(caplog.handler)
    try:
        answer, rest = await _raw_hello(hub.address, "not-the-token")
    finally:
        logger.removeHandler(caplog.handler)
    assert answer["id"] == 7
    assert answer["error"]["code"] == wire.ERR_UNAUTHORIZED
    assert answer["error"]["message"] == "wrong token"
    assert rest == b""  # and the connection was closed
    assert "refused an agent connection" in caplog.text and "wrong token" in caplog.text
    assert hub.agents == {} and hub.state == "connecting"
    # the hub is unaffected: a real agent with the right token still gets in
    proc = programs.start("busy_app.py", env=clean_env(**hub.launch_env()))
    conn = await hub.wait_for_agent(proc.pid)
    assert (await conn.call(wire.PING))["pid"] == proc.pid


async def test_wrong_protocol_version_is_refused(hub: AgentHub) -> None:
    reader, writer = await asyncio.open_connection(*hub.address)
    hello = {"token": hub.token, "protocol": 99, "role": "agent", "pid": 1}
    writer.write(encode({"jsonrpc": "2.0", "id": 1, "method": wire.HELLO, "params": hello}))
    data = await asyncio.wait_for(reader.read(65536), 5)
    answer = next(iter(FrameParser().feed(data)))
    assert answer["error"]["code"] == wire.ERR_PROTOCOL
    assert "99" in answer["error"]["message"]
    writer.close()
    assert hub.agents == {}


async def test_program_with_a_wrong_token_still_runs(hub: AgentHub, programs: Programs) -> None:
    env = clean_env(**hub.launch_env())
    env[wire.ENV_TOKEN] = "wrong"
    proc = programs.start("show_path.py", env=env)
    line = await read_line(proc, "{")
    assert json.loads(line)["agent_loaded"] is True
    proc.stdin.close()
    assert await asyncio.to_thread(proc.wait, 20) == 0
    stderr = proc.stderr.read()
    assert "devsandbox: warning: the agent did not start" in stderr and "wrong token" in stderr
    assert hub.agents == {}


async def test_calls_map_errors(hub: AgentHub, programs: Programs) -> None:
    with pytest.raises(PeerGone, match="no DevSandbox agent is connected"):
        await hub.call(wire.PING)
    proc = programs.start("busy_app.py", env=clean_env(**hub.launch_env()))
    await hub.wait_for_agent(proc.pid)
    with pytest.raises(CannotHandle, match="does not support 'no/such'"):
        await hub.call("no/such")
    with pytest.raises(InvalidRequest, match="no DevSandbox agent is connected for process 1"):
        await hub.call(wire.PING, pid=1)
    with pytest.raises(PeerGone, match="did not connect within"):
        await hub.wait_for_agent(pid=1, timeout=0.2)
    await read_line(proc, "READY")  # busy_app has started its child (whose agent connects too)
    programs.stop_all()
    with pytest.raises(PeerGone):
        for _ in range(100):  # the hub notices the agent is gone
            await hub.call(wire.PING, timeout=2)
            await asyncio.sleep(0.05)
    # the child's hello may still be in flight when the group is killed: the hub can adopt
    # that agent after the parent's is gone, and then lose it too
    for _ in range(200):
        if not hub.agents:
            break
        await asyncio.sleep(0.05)
    assert hub.agents == {}
    assert hub.state == "disconnected"


# -- the launch bootstrap ----------------------------------------------------------------------


def _user_site(tmp_path: Path) -> Path:
    site = tmp_path / "usersite"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import builtins\nbuiltins.USER_SITECUSTOMIZE_RAN = True\n"
    )
    return site


async def _startup_view(programs: Programs, env: dict[str, str]) -> dict:
    proc = programs.start("show_path.py", env=env)
    view = json.loads(await read_line(proc, "{"))
    view["pid"] = proc.pid
    view["proc"] = proc
    return view


@pytest.mark.parametrize("with_user_site", [True, False])
async def test_bootstrap_leaves_sys_path_as_plain_python_and_chains_sitecustomize(
    hub: AgentHub, programs: Programs, tmp_path: Path, with_user_site: bool
) -> None:
    base = clean_env()
    if with_user_site:
        base["PYTHONPATH"] = str(_user_site(tmp_path))
    plain = await _startup_view(programs, base)
    plain["proc"].stdin.close()
    with_agent = await _startup_view(programs, {**base, **hub.launch_env(env=base)})
    conn = await hub.wait_for_agent(with_agent["pid"])
    assert conn.parent is None
    with_agent["proc"].stdin.close()

    assert with_agent["path"] == plain["path"]
    assert plain["agent_loaded"] is False and with_agent["agent_loaded"] is True
    assert with_agent["user_sitecustomize_ran"] is plain["user_sitecustomize_ran"] is with_user_site
    assert with_agent["sitecustomize"] == plain["sitecustomize"]
    # PYTHONPATH itself keeps the bootstrap (children get the agent) and the user's entries
    bootstrap = with_agent["pythonpath"].split(os.pathsep)[0]
    assert Path(bootstrap, "sitecustomize.py").is_file()
    assert with_agent["pythonpath"].split(os.pathsep)[1:] == [
        p for p in [base.get("PYTHONPATH")] if p
    ]


async def test_bootstrap_directory_is_removed_on_close(recorder: Recorder) -> None:
    hub = AgentHub(on_state=recorder.on_state)
    await hub.listen()
    env = hub.launch_env({"answer": 42})
    bootstrap = Path(env["PYTHONPATH"])  # no environment passed in: the bootstrap alone
    assert (bootstrap / "devsandbox" / "agent" / "rpc.py").is_file()
    assert json.loads(env[wire.ENV_OPTIONS]) == {"answer": 42}
    assert env[wire.ENV_AGENT] == f"{hub.address[0]}:{hub.address[1]}"
    await hub.close()
    assert not bootstrap.exists()
    assert recorder.state_names() == ["connecting", "disconnected"]


# -- embedded mode: the agent listens, the server connects ------------------------------------


async def _start_embedded(programs: Programs, token: str, port: int = 0):
    proc = programs.start("embedded_app.py", str(port), env=clean_env(TEST_AGENT_TOKEN=token))
    line = await read_line(proc, "LISTENING")
    return proc, int(line.split()[1])


async def _wait_state(recorder: Recorder, count: int, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if len(recorder.states) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"states so far: {recorder.states}")


async def test_embedded_connect_and_reconnect_after_the_agent_restarts(
    recorder: Recorder, programs: Programs
) -> None:
    token = secrets.token_urlsafe(16)
    first, port = await _start_embedded(programs, token)
    hub = AgentHub(on_state=recorder.on_state)
    try:
        conn = await hub.connect("127.0.0.1", port, token)
        assert conn.pid == first.pid and conn.info["role"] == "agent"
        assert (await hub.call(wire.PING))["pid"] == first.pid
        assert recorder.state_names() == ["connecting", "connected"]

        programs.stop_all()  # the program goes away ...
        await _wait_state(recorder, 3)
        assert recorder.states[2][0] == "connecting" and "reconnecting" in recorder.states[2][1]
        await asyncio.sleep(0.6)  # ... for a while (a few failed attempts) ...
        second, _ = await _start_embedded(programs, token, port)  # ... and comes back
        await _wait_state(recorder, 4)
        assert recorder.state_names() == ["connecting", "connected", "connecting", "connected"]
        conn = await hub.wait_for_agent()
        assert conn.pid == second.pid
        report = await hub.discover()
        assert report["pid"] == second.pid
    finally:
        await hub.close()
    assert recorder.state_names()[-1] == "disconnected"


async def test_embedded_agent_refuses_a_wrong_token_and_serves_servers_one_after_another(
    recorder: Recorder, programs: Programs
) -> None:
    token = secrets.token_urlsafe(16)
    proc = programs.start(
        "embedded_app.py", "0", env=clean_env(TEST_AGENT_TOKEN=token, DEVSANDBOX_AGENT_DEBUG="1")
    )
    port = int((await read_line(proc, "LISTENING")).split()[1])
    watcher = AgentHub(on_notification=recorder.on_notification)
    await watcher.connect("127.0.0.1", port, token, retry=False)
    states = Recorder()
    bad = AgentHub(on_state=states.on_state)
    with pytest.raises(InvalidRequest, match="refused the connection: wrong token"):
        await bad.connect("127.0.0.1", port, "wrong")
    assert states.state_names() == ["connecting", "error"]
    await bad.close()
    # the connected server hears about the refusal
    for _ in range(100):
        if recorder.notifications:
            break
        await asyncio.sleep(0.05)
    ((pid, method, params),) = recorder.notifications
    assert (pid, method, params["level"]) == (proc.pid, wire.AGENT_LOG, "warning")
    assert "refused a connection" in params["message"] and "wrong token" in params["message"]
    await watcher.close()

    for _ in range(2):  # several servers over time, and two at once
        one, two = AgentHub(), AgentHub()
        try:
            await one.connect("127.0.0.1", port, token, retry=False)
            await two.connect("127.0.0.1", port, token, retry=False)
            assert (await one.call(wire.PING))["pid"] == proc.pid
            assert (await two.call(wire.PING))["pid"] == proc.pid
        finally:
            await one.close()
            await two.close()
    assert proc.poll() is None
    proc.kill()
    proc.wait(10)
    # the refusal went to the agent's log (on stderr with DEVSANDBOX_AGENT_DEBUG)
    stderr = proc.stderr.read()
    assert "WARNING: refused a connection from 127.0.0.1:" in stderr and "wrong token" in stderr


async def test_connect_to_nothing_fails_clearly(recorder: Recorder) -> None:
    hub = AgentHub(on_state=recorder.on_state)
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(PeerGone, match=f"no DevSandbox agent is listening at 127.0.0.1:{port}"):
        await hub.connect("127.0.0.1", port, "token")
    assert recorder.state_names() == ["connecting", "error"]
    await hub.close()


async def test_forked_child_connects_its_own_agent(
    hub: AgentHub, recorder: Recorder, programs: Programs
) -> None:
    proc = programs.start("fork_app.py", env=clean_env(**hub.launch_env()))
    child_pid = int((await read_line(proc, "FORKED")).split()[1])
    parent = await hub.wait_for_agent(proc.pid)
    child = await hub.wait_for_agent(child_pid)
    assert parent.parent is None and child.parent == proc.pid
    assert (await hub.call(wire.PING, pid=child_pid))["pid"] == child_pid
    assert hub.primary() is parent
    report = await hub.discover()
    (entry,) = [c for c in report["children"]["processes"] if c["pid"] == child_pid]
    assert entry["agent_connected"] is True
    assert (proc.pid, wire.AGENT_CHILD, {"pid": child_pid, "parent": proc.pid}) in (
        recorder.notifications
    )


async def test_registered_methods_and_notifications(recorder: Recorder, programs: Programs) -> None:
    token = secrets.token_urlsafe(16)
    proc, port = await _start_embedded(programs, token)
    hub = AgentHub(on_notification=recorder.on_notification)
    try:
        conn = await hub.connect("127.0.0.1", port, token, retry=False)
        assert {"test/echo", "test/fail", "test/notify", wire.DISCOVER} <= set(conn.info["methods"])
        assert await hub.call("test/echo", {"a": [1, 2]}) == {"echo": {"a": [1, 2]}}
        assert await hub.call("test/echo") == {"echo": {}}
        with pytest.raises(InvalidRequest, match="kind must be sensible"):
            await hub.call("test/fail", {"kind": "invalid"})
        with pytest.raises(CannotHandle, match="ValueError: this method always fails"):
            await hub.call("test/fail", {})
        assert await hub.call("test/notify", {"n": 1}) == 1  # one server got it
        for _ in range(100):
            if recorder.notifications:
                break
            await asyncio.sleep(0.02)
        assert recorder.notifications == [(proc.pid, "test/event", {"n": 1})]
    finally:
        await hub.close()


async def test_bootstrap_directories_of_dead_servers_are_swept(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    base = Path(tempfile.gettempdir())
    stale = base / f"{BOOTSTRAP_PREFIX}{int(dead.stdout)}-test"
    stale.mkdir()
    (stale / "sitecustomize.py").write_text("")
    live = base / f"{BOOTSTRAP_PREFIX}{os.getpid()}-test"  # a server that is still running
    live.mkdir()
    hub = AgentHub()
    try:
        await hub.listen()
        hub.launch_env()
        assert not stale.exists()
        assert live.exists()
    finally:
        await hub.close()
        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(live, ignore_errors=True)


def test_bootstrap_directory_is_removed_when_the_server_exits_without_closing() -> None:
    code = (
        "import asyncio\n"
        "from devsandbox.agent_link import AgentHub\n"
        "async def main():\n"
        "    hub = AgentHub()\n"
        "    await hub.listen()\n"
        "    print(hub.launch_env()['PYTHONPATH'])\n"
        "    return hub\n"
        "keep = asyncio.run(main())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=clean_env(),
    )
    path = Path(out.stdout.strip())
    assert path.name.startswith(BOOTSTRAP_PREFIX)
    assert not path.exists()
