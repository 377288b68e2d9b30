"""Attach to a running Python process that did no setup (``"processId"``): agent injection."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time

import pytest
from attach_support import PLAIN, marker_line, old_python, target_pythons

from devsandbox.agent_link import AgentHub
from devsandbox.errors import CannotHandle, InvalidRequest
from devsandbox.inject import inject_agent, inspect_target

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="injection is Linux-only"),
]
needs_gdb = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")

WORK_BODY = marker_line(PLAIN, "work_body")


def start_plain(programs, python: str):
    return programs.start([python, PLAIN, "120"], ready="ready")


async def inject_and_discover(pid: int, **kwargs) -> dict:
    hub = AgentHub()
    try:
        host, port = await hub.listen()
        await inject_agent(pid, host, port, hub.token, **kwargs)
        conn = await hub.wait_for_agent(pid, timeout=15)
        assert conn.pid == pid
        return await hub.discover(pid)
    finally:
        await hub.close()


@needs_gdb
@pytest.mark.parametrize("python", target_pythons())
def test_injected_agent_answers_discovery(programs, python):
    proc = start_plain(programs, python)
    report = asyncio.run(inject_and_discover(proc.pid))
    assert report["pid"] == proc.pid
    assert report["argv"][0] == PLAIN
    main = next(t for t in report["threads"] if t["main"])
    assert [f["function"] for f in main["stack"]][-2:] == ["main", "<module>"]
    time.sleep(0.3)
    assert proc.poll() is None, "the program must keep running"
    # a second injection (a new session) into the same process works too
    assert asyncio.run(inject_and_discover(proc.pid))["pid"] == proc.pid


@needs_gdb
@pytest.mark.parametrize("python", target_pythons())
def test_attach_by_pid_through_devsandbox_dap(programs, dap_server, python):
    proc = start_plain(programs, python)
    dap = dap_server()
    dap.start(
        "attach",
        {"processId": proc.pid, "justMyCode": False},
        breakpoints={PLAIN: [{"line": WORK_BODY}]},
        timeout=60,
    )
    stop = dap.stopped(30)
    assert stop["reason"] == "breakpoint"
    frame = dap.top_frame(stop["threadId"])
    assert frame["name"] == "work" and frame["line"] == WORK_BODY
    assert set(dap.locals(frame["id"])) == {"i"}
    assert dap.request("devsandbox/connectionState")["body"]["agents"] == [proc.pid]
    assert dap.request("devsandbox/discover", {}, timeout=30)["body"]["pid"] == proc.pid
    # continue: the breakpoint hits again with the next value
    first = int(dap.locals(frame["id"])["i"])
    mark = dap.mark()
    dap.request("continue", {"threadId": stop["threadId"]})
    stop = dap.stopped(30, start=mark)
    frame = dap.top_frame(stop["threadId"])
    assert int(dap.locals(frame["id"])["i"]) == first + 1
    # no breakpoints: the program runs, the agent still answers, detaching leaves it running
    dap.request("setBreakpoints", {"source": {"path": PLAIN}, "breakpoints": []})
    dap.request("continue", {"threadId": stop["threadId"]})
    report = dap.request("devsandbox/discover", {}, timeout=30)["body"]
    assert report["pid"] == proc.pid
    dap.request("disconnect", {})
    assert dap.close() == 0
    time.sleep(0.5)
    assert proc.poll() is None, "the program must keep running after the editor detaches"


# -- error paths ---------------------------------------------------------------------------------


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_inject_into_missing_process():
    pid = dead_pid()
    with pytest.raises(InvalidRequest, match=f"There is no process with id {pid}"):
        asyncio.run(inject_agent(pid, "127.0.0.1", 9, "token"))


def test_inject_into_non_python_process(programs):
    sleeper = programs.start(["sleep", "100"])
    with pytest.raises(
        InvalidRequest, match=rf"Process {sleeper.pid} \(.*sleep\) is not a Python process"
    ):
        asyncio.run(inject_agent(sleeper.pid, "127.0.0.1", 9, "token"))


def test_inspect_reports_the_python_version(programs):
    proc = start_plain(programs, sys.executable)
    target = inspect_target(proc.pid)
    assert target.version == sys.version_info[:2]


def test_inject_without_gdb_says_what_to_install(programs, monkeypatch, tmp_path):
    proc = start_plain(programs, sys.executable)
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without gdb
    with pytest.raises(CannotHandle, match="needs gdb.*apt-get install gdb"):
        asyncio.run(inject_agent(proc.pid, "127.0.0.1", 9, "token"))


@needs_gdb
def test_inject_timeout_is_reported(programs):
    proc = start_plain(programs, sys.executable)
    with pytest.raises(
        CannotHandle, match=f"did not finish injecting into process {proc.pid} within"
    ):
        asyncio.run(inject_agent(proc.pid, "127.0.0.1", 9, "token", timeout=0.01))


@needs_gdb
def test_agent_failure_in_the_target_is_reported(programs):
    """Nobody listens at the address: the agent's connect() fails inside the target."""
    proc = start_plain(programs, sys.executable)
    with socket_that_refuses() as port:
        with pytest.raises(CannotHandle, match=f"agent failed to start in process {proc.pid}"):
            asyncio.run(inject_agent(proc.pid, "127.0.0.1", port, "token"))
    time.sleep(0.3)
    assert proc.poll() is None


class socket_that_refuses:
    """A loopback port with nobody listening on it."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


@pytest.mark.parametrize("kind", ["missing", "not-python"])
def test_dap_attach_errors_are_clear(programs, dap_server, kind):
    if kind == "missing":
        pid, expected = dead_pid(), "no process with id"
    else:
        pid, expected = programs.start(["sleep", "100"]).pid, "is not a Python process"
    dap = dap_server()
    dap.request(
        "initialize",
        {
            "clientID": "tests",
            "adapterID": "devsandbox",
            "linesStartAt1": True,
            "columnsStartAt1": True,
            "pathFormat": "path",
        },
    )
    response = dap.request("attach", {"processId": pid}, timeout=30, check=False)
    assert response["success"] is False
    assert expected in response["message"] and str(pid) in response["message"]


def test_dap_attach_to_unsupported_python_version(programs, dap_server):
    python = old_python()
    if python is None:
        pytest.skip("no CPython older than 3.11 installed")
    proc = start_plain(programs, python)
    dap = dap_server()
    dap.request(
        "initialize", {"clientID": "tests", "adapterID": "devsandbox", "pathFormat": "path"}
    )
    response = dap.request("attach", {"processId": proc.pid}, timeout=30, check=False)
    assert response["success"] is False
    assert f"Process {proc.pid} runs Python 3." in response["message"]
    assert "DevSandbox needs Python 3.11 or newer" in response["message"]
    assert proc.poll() is None


def test_ptrace_refusal_is_explained():
    """What gdb prints when the kernel refuses ptrace (Yama, containers) becomes advice.

    The test machine runs as root with CAP_SYS_PTRACE, so the refusal itself cannot be
    produced here; this checks the translation of gdb's real output.
    """
    from devsandbox.inject import Target, _check_gdb_output

    target = Target(pid=4242, exe="/usr/bin/python3.11", version=(3, 11), uid=0, gid=0)
    gdb_output = (
        "Attaching to process 4242\n"
        "Could not attach to process.  If your uid matches the uid of the target\n"
        "process, check the setting of /proc/sys/kernel/yama/ptrace_scope, or try\n"
        "again as the root user.  For more details, see /etc/sysctl.d/10-ptrace.conf\n"
        "ptrace: Operation not permitted.\n"
    )
    with pytest.raises(CannotHandle) as info:
        _check_gdb_output(target, gdb_output)
    message = str(info.value)
    assert "not allow DevSandbox to attach to process 4242" in message
    assert "ptrace_scope" in message or "CAP_SYS_PTRACE" in message
