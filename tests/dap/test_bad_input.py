"""Bad input gets a clear error and the server keeps serving."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devsandbox.dapclient import DapClient, DapError
from devsandbox.wire.framing import encode
from harness.dap import launch_config
from harness.samples import sample


def error_of(dap, command, arguments=None):
    response = dap.request(command, arguments, check=False)
    assert response["success"] is False, response
    return response["message"]


def initialize(dap):
    dap.request("initialize", {"adapterID": "devsandbox", "clientID": "tests"})


def test_requests_before_initialize_and_unknown_commands(dap):
    assert "initialize" in error_of(dap, "threads")
    initialize(dap)
    assert "not supported" in error_of(dap, "fooBar")
    # debugpy would hang on stepBack; time travel answers it (without a recording: an error)
    assert "needs a recording" in error_of(dap, "stepBack", {"threadId": 1})
    assert "Unknown DevSandbox request 'devsandbox/nope'" in error_of(dap, "devsandbox/nope")
    assert "already initialized" in error_of(dap, "initialize", {"adapterID": "x"})


def test_launch_errors_then_a_good_launch(dap, tmp_path):
    initialize(dap)
    missing = str(tmp_path / "nope.py")
    message = error_of(dap, "launch", launch_config(missing))
    assert "does not exist" in message and missing in message
    message = error_of(dap, "launch", {"module": "no_such_module_xyz", "console": "internalConsole"})
    assert "no module named 'no_such_module_xyz'" in message
    assert "exactly one of" in error_of(dap, "launch", {"console": "internalConsole"})
    assert "does not exist" in error_of(dap, "launch", launch_config(sample("loop.py"),
                                                                       cwd=str(tmp_path / "x")))
    assert "must be of type bool" in error_of(
        dap, "launch", launch_config(sample("loop.py"), devsandbox={"record": "yes"}))
    # recorder options: checked here rather than clamped or refused later in the debuggee
    for bad, expected in [({"chunkKb": 2}, "devsandbox.chunkKb must be between 4 and 1024, got 2"),
                          ({"maxDepth": "3"}, "devsandbox.maxDepth must be of type int, got str"),
                          ({"maxItems": True}, "devsandbox.maxItems must be of type int, got bool"),
                          ({"recorderBackend": "fast"}, "devsandbox.recorderBackend must be one of"),
                          ({"reprBudgetMs": 0}, "devsandbox.reprBudgetMs must be more than 0")]:
        assert expected in error_of(dap, "launch", launch_config(
            sample("loop.py"), devsandbox={"record": True, **bad}))
    assert "envFile" in error_of(dap, "launch", launch_config(sample("loop.py"),
                                                              envFile=str(tmp_path / "none.env")))
    # the session is still usable: a correct launch runs the program (recorder options are
    # known options, not "ignored")
    seq = dap.send_request("launch", launch_config(sample("loop.py"), devsandbox={
        "maxDepth": 2, "chunkKb": 16, "reprBudgetMs": 5.5, "recorderBackend": "auto"}))
    dap.event("initialized")
    dap.request("configurationDone")
    dap.response(seq)
    dap.event("exited", timeout=20)
    assert "result 45" in dap.output()
    assert "unknown option" not in dap.output()


def test_attach_errors(dap):
    initialize(dap)
    assert "no process with id 999999" in error_of(dap, "attach", {"processId": 999999})
    assert "process id" in error_of(dap, "attach", {"processId": "abc"})
    assert "needs 'connect'" in error_of(dap, "attach", {})
    assert "Invalid port" in error_of(dap, "attach", {"connect": {"host": "127.0.0.1",
                                                                   "port": "x"}})
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    response = dap.request("attach", {"connect": {"host": "127.0.0.1", "port": port},
                                      "devsandbox": {"agent": False}}, check=False, timeout=30)
    assert response["success"] is False and response["message"]


def wait_output(dap, needle, start=0, timeout=10):
    return dap.event("output", timeout, start, where=lambda b: needle in b.get("output", ""))


def test_malformed_frames_are_reported_and_skipped(dap):
    start = dap.mark()
    dap.send_raw(b"Content-Length: abc\r\n\r\n")
    wait_output(dap, "invalid Content-Length", start)
    body = b"{not json"
    dap.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    wait_output(dap, "invalid JSON", start)
    dap.send_raw(encode([1, 2, 3]))  # type: ignore[arg-type]
    wait_output(dap, "not a JSON object", start)
    dap.send_raw(encode({"type": "request", "command": "threads"}))  # no seq
    wait_output(dap, "'seq'", start)
    dap.send_raw(b"X-Other: 1\r\n\r\n")
    wait_output(dap, "without Content-Length", start)
    dap.send_raw(encode({"type": "request", "seq": 77}))  # no command: answered as an error
    response = dap.wait_for(lambda m: m.get("request_seq") == 77)
    assert response["success"] is False and "command" in response["message"]
    dap.send_raw(encode({"type": "request", "seq": 78, "command": "threads",
                         "arguments": "oops"}))
    response = dap.wait_for(lambda m: m.get("request_seq") == 78)
    assert response["success"] is False and "arguments" in response["message"]
    # still serving
    assert dap.request("devsandbox/connectionState")["body"]["state"] == "disconnected"


@pytest.fixture(scope="module")
def fuzz_server():
    client = DapClient()
    yield client
    code = client.close()
    assert code == 0


garbage_line = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60).filter(
    lambda s: "content-length" not in s.lower() and "\r" not in s and "\n" not in s)
bad_frame = st.one_of(
    st.lists(garbage_line, min_size=1, max_size=4).map(
        lambda lines: "\r\n".join(lines).encode() + b"\r\n\r\n"),
    st.binary(max_size=200).map(lambda b: b"Content-Length: %d\r\n\r\n" % len(b) + b),
    st.text(alphabet="-+x 9.eE", min_size=1, max_size=12).filter(lambda t: not t.strip().isdigit())
    .map(lambda t: f"Content-Length: {t}\r\n\r\n".encode()),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.sampled_from(["type", "seq", "command", "event",
                                                    "request_seq", "arguments", "x"]),
                                   inner, max_size=5),
                 max_leaves=8).map(lambda obj: encode(obj) if isinstance(obj, dict) else
                                   encode({"v": obj}) if obj is None else
                                   b"Content-Length: %d\r\n\r\n%s" % (
                                       len(json.dumps(obj).encode()), json.dumps(obj).encode())),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(bad_frame, min_size=1, max_size=5))
def test_fuzzed_framing_never_stops_the_server(fuzz_server, frames):
    for frame in frames:
        fuzz_server.send_raw(frame)
    seq = fuzz_server.send_request("devsandbox/connectionState")
    response = fuzz_server.response(seq, timeout=10, check=False)
    assert response["command"] == "devsandbox/connectionState"
    assert fuzz_server.proc.poll() is None


@settings(max_examples=25, deadline=None)
@given(data=st.binary(min_size=1, max_size=400))
def test_arbitrary_bytes_then_eof_exit_cleanly(data):
    proc = subprocess.run([sys.executable, "-m", "devsandbox", "dap"], input=data,
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr


def test_tcp_server_requires_its_token_and_serves_session_after_session(tmp_path):
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    server = subprocess.Popen([sys.executable, "-m", "devsandbox", "dap", "--port", "0"],
                              stderr=subprocess.PIPE, env=env, text=True)
    try:
        line = server.stderr.readline()
        match = re.search(r"listening on ([\d.]+):(\d+) token (\S+)", line)
        assert match, line
        address, token = (match.group(1), int(match.group(2))), match.group(3)
        entries = list((tmp_path / "devsandbox").glob("server-*.json"))
        assert len(entries) == 1
        assert stat.S_IMODE(entries[0].stat().st_mode) == 0o600
        assert json.loads(entries[0].read_text())["token"] == token

        client = DapClient(address=address)
        initialize(client)
        with pytest.raises(DapError, match="requires its token"):
            client.request("launch", launch_config(sample("loop.py")))
        client.close()
        for _ in range(2):  # one session after the other on the same server
            client = DapClient(address=address)
            client.start("launch", launch_config(sample("crash.py"), args=["exit"],
                                                 devsandbox={"serverToken": token}))
            assert client.event("exited", timeout=20)["body"]["exitCode"] == 3
            client.request("disconnect")
            client.close()
    finally:
        server.terminate()
        server.wait(10)


def test_a_failed_hover_is_not_shown_to_the_user_but_other_errors_are(dap):
    # our own errors (those debugpy gives are relayed as they are)
    response = dap.request("evaluate", {"expression": "", "context": "hover"}, check=False)
    assert response["success"] is False and response["body"]["error"]["showUser"] is False
    response = dap.request("evaluate", {"expression": "", "context": "watch"}, check=False)
    assert response["success"] is False and response["body"]["error"]["showUser"] is True
