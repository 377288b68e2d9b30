"""Live requests through ``devsandbox dap`` while debugpy holds the program at a breakpoint,
the command line against that session, hot reload on save, and tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from live_support import CLIENT, clean_env, copy_programs, marker_line

from devsandbox.dapclient import DapClient, DapError

pytestmark = pytest.mark.timeout(240)


def req(dap: DapClient, command: str, **arguments):
    """The body of a successful devsandbox/<command> response."""
    wait = 30.0 + float(arguments.get("timeout") or 0)
    return dap.request(f"devsandbox/{command}", arguments, timeout=wait)["body"]


def failure(dap: DapClient, command: str, **arguments) -> str:
    response = dap.request(f"devsandbox/{command}", arguments, timeout=30, check=False)
    assert not response["success"], response
    return response["message"]


def wait_value(dap: DapClient, path: str, expected: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        try:
            seen = req(dap, "inspect", path=path, count=0)["repr"]
        except DapError as exc:  # e.g. the list is still empty right after continuing
            seen = f"an error: {exc}"
        if seen == expected:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} is {seen}, never {expected}")


@pytest.fixture
def session(tmp_path):
    workdir = copy_programs(tmp_path)
    env = clean_env(XDG_RUNTIME_DIR=str(tmp_path))
    dap = DapClient(env=env, cwd=str(workdir))
    program = workdir / "live_app.py"
    try:
        dap.start("launch", {
            "program": str(program), "cwd": str(workdir), "console": "internalConsole",
            "justMyCode": False, "python": sys.executable,
            "devsandbox": {"hotReload": {"debounce": 0.1}},
        }, breakpoints={str(program): [{"line": marker_line(program, "main_call")},
                                       {"line": marker_line(program, "add_body")}]}, timeout=60)
        yield dap, workdir, env
    finally:
        dap.request("disconnect", {"terminateDebuggee": True}, timeout=10, check=False)
        dap.close()


def test_live_requests_while_stopped_at_a_breakpoint(session):
    dap, workdir, _env = session
    stop = dap.stopped(60)
    assert stop["reason"] == "breakpoint"
    caps = dap.capabilities["devsandbox"]["requests"]
    assert {"devsandbox/inspect", "devsandbox/set", "devsandbox/hotReload",
            "devsandbox/watch"} <= set(caps)
    started = time.monotonic()

    assert req(dap, "inspect", path="CONFIG['limits']")["repr"] == "{'cpu': 1, 'mem': 2}"
    assert req(dap, "find", type="Account")["total"] == 2
    changes = [req(dap, "set", path="CONFIG['threshold']", value=8),
               req(dap, "set", path="CONFIG", strategy="deep_merge", value={"limits": {"cpu": 9}}),
               req(dap, "set", path="ACCOUNTS['bob']", strategy="partial_update",
                   value={"balance": 1})]
    assert req(dap, "inspect", path="CONFIG")["repr"].startswith(
        "{'threshold': 8, 'limits': {'cpu': 9, 'mem': 2}")
    for change in reversed(changes):
        req(dap, "rollback", change=change["change"])
    assert req(dap, "inspect", path="ACCOUNTS['bob']")["repr"] == "Account('bob', 50)"
    assert req(dap, "inspect", path="CONFIG['limits']")["repr"] == "{'cpu': 1, 'mem': 2}"

    # injected code runs on threads debugpy leaves alone: a breakpoint in add() does not stop it
    mark = dap.mark()
    assert req(dap, "call", target="add", args=[2, 2])["value"] == "4"
    assert not [m for m in dap.messages[mark:] if m.get("event") == "stopped"]
    called = req(dap, "call", target="greet", args=["paused"])
    assert (called["value"], called["stdout"]) == ("'hi paused'", "hello paused\n")
    coro = req(dap, "call", target="async_add", args=[1, 2])
    assert coro["value"] == "3" and coro["where"] == "private loop" and "paused" in coro["note"]
    assert req(dap, "call", target="spin", args=[30], timeout=0.3)["status"] == "timeout"
    assert req(dap, "eval", code="z = 6\nz * 7")["value"] == "42"
    assert req(dap, "eval", code="z")["value"] == "6"  # the session's own namespace
    assert req(dap, "eval", code="while True:\n    pass", timeout=0.3)["status"] == "timeout"
    assert "refused" in failure(dap, "eval", code="import os\nos.system('true')")
    labels = [t["label"] for t in req(dap, "completions", text="ACC", module="__main__")["targets"]]
    assert labels == ["ACCOUNTS"]

    # messages: the consumer thread and the loop are held by debugpy, the messages wait
    assert req(dap, "sendMessage", queue="INBOX", value="while paused")["status"] == "delivered"
    pending = req(dap, "sendMessage", queue="AQUEUE", value="loop paused", timeout=0.3)
    assert pending["status"] == "pending"
    # a worker thread runs while the program is paused, and stops when asked
    worker = req(dap, "startWorker", code="import time\nTICKS = [0]\ndef worker(stop):\n"
                 "    while not stop.is_set():\n        TICKS[0] += 1\n        time.sleep(0.01)\n")
    time.sleep(0.3)
    assert int(req(dap, "eval", code="TICKS[0]")["value"]) > 0
    assert req(dap, "stopWorker", worker=worker["worker"])["stoppedInTime"]

    reloaded = req(dap, "hotReload", module="livemod",
                   source=(workdir / "livemod.py").read_text().replace("x * FACTOR", "x * 3"))
    assert reloaded["changed"] == [{"name": "compute", "functions": 1}]
    entries = req(dap, "audit", limit=0)["entries"]
    assert {"set", "rollback", "call", "eval", "refused", "message", "startWorker",
            "stopWorker", "hotReload"} <= {e["action"] for e in entries}
    assert all(e["client"].startswith("dap:") for e in entries if e["action"] == "set")
    assert time.monotonic() - started < 60  # nothing waited for the program to run

    # still stopped at the same place; then run on: the program catches up with everything
    assert dap.top_frame(stop["threadId"])["line"] == marker_line(workdir / "live_app.py",
                                                                   "main_call")
    dap.request("setBreakpoints", {"source": {"path": str(workdir / "live_app.py")},
                                   "breakpoints": []})
    dap.request("continue", {"threadId": stop["threadId"]})
    wait_value(dap, "RESULTS[-1]", "6")
    wait_value(dap, "RECEIVED", "['while paused']")
    wait_value(dap, "AIO_RECEIVED", "['loop paused']")


def test_saving_a_file_reloads_it_and_the_cli_reaches_the_session(session):
    dap, workdir, env = session
    stop = dap.stopped(60)
    dap.request("setBreakpoints", {"source": {"path": str(workdir / "live_app.py")},
                                   "breakpoints": []})
    dap.request("continue", {"threadId": stop["threadId"]})
    wait_value(dap, "RESULTS[-1]", "20")
    module = workdir / "livemod.py"
    mark = dap.mark()
    module.write_text(module.read_text().replace("return x * FACTOR", "return x * FACTOR + 2"))
    event = dap.event("devsandbox/hotReloaded", 20, start=mark)["body"]
    assert event["status"] == "ok" and event["changed"] == [{"name": "compute", "functions": 1}]
    wait_value(dap, "RESULTS[-1]", "22")  # the next call, without a restart
    assert "reloaded" in dap.output("console") and "compute" in dap.output("console")
    # a save with a syntax error changes nothing and says where
    mark = dap.mark()
    module.write_text(module.read_text().replace("return x * FACTOR + 2", "return x * FACTOR +"))
    event = dap.event("devsandbox/hotReloaded", 20, start=mark)["body"]
    assert event["status"] == "error" and event["error"]["line"] > 0
    assert req(dap, "inspect", path="RESULTS[-1]")["repr"] == "22"

    assert req(dap, "watch", enable=False) == {"watching": []}  # the command line reloads now

    def cli(*args: str, code: int = 0) -> str:
        result = subprocess.run([sys.executable, "-m", "devsandbox", *args], cwd=workdir, env=env,
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == code, result.stderr
        return result.stdout + result.stderr

    # the command line finds the session in the runtime directory and goes through it
    assert "'cpu': 1" in cli("inspect", "CONFIG['limits']")
    changed = cli("set", "CONFIG['threshold']", "11", "--session")
    change = changed.split("change ")[1].split()[0]
    assert req(dap, "inspect", path="CONFIG['threshold']")["repr"] == "11"
    assert "rolled back" in cli("rollback", change)
    assert req(dap, "inspect", path="CONFIG['threshold']")["repr"] == "3"
    assert cli("call", "add", "4", "5").strip() == "9"
    assert cli("eval", "w = 2\nw ** 10").strip() == "1024"
    assert "refused" in cli("eval", "import shutil; shutil.rmtree('x')", code=1)
    answer = json.loads(cli("eval", "--json", "w"))
    assert answer["value"] == "2"
    (workdir / "livemod.py").write_text(
        (workdir / "livemod.py").read_text().replace("return x * FACTOR +", "return x * FACTOR"))
    assert "changed compute" in cli("reload", "livemod.py")
    wait_value(dap, "RESULTS[-1]", "20")
    audit = cli("audit", "--session", "--action", "set")
    assert "__main__:CONFIG['threshold']: 3 -> 11" in audit
    # the log is a plain file too, readable after the program is gone
    assert change in cli("audit", "--change", change)


def test_connections_without_the_token_are_refused(session):
    dap, workdir, env = session
    stop = dap.stopped(60)
    # the session's control endpoint: only with the token from the runtime directory
    from devsandbox.errors import InvalidRequest
    from devsandbox.wire import jsonrpc

    [entry] = [json.loads(p.read_text()) for p in
               (workdir.parent / "devsandbox").glob("session-*.json")]

    async def scenario() -> None:
        with pytest.raises(InvalidRequest, match="refused"):
            await jsonrpc.connect(entry["host"], entry["port"], "not-the-token")
        conn = await jsonrpc.connect(entry["host"], entry["port"], entry["token"])
        answer = await conn.call("live", {"verb": "inspect", "params": {"path": "COUNTS[0]",
                                                                          "client": CLIENT}})
        assert answer["type"] == "int"
        conn.close()

    import asyncio

    asyncio.run(scenario())
    # an agent listening in the program (embedded mode) refuses a server without its token
    served = req(dap, "eval", force=True, code=(
        "import devsandbox.agent\n"
        "devsandbox.agent.serve('127.0.0.1', 0, 'the-right-token')"))
    port = served["value"].strip("()").split(", ")[1]
    wrong = subprocess.run([sys.executable, "-m", "devsandbox", "inspect", "COUNTS",
                            "--connect", f"127.0.0.1:{port}"], cwd=workdir, capture_output=True,
                           text=True, timeout=60, env=dict(env, DEVSANDBOX_TOKEN="wrong"), check=False)
    assert wrong.returncode == 1 and "refused" in wrong.stderr and "wrong token" in wrong.stderr
    right = subprocess.run([sys.executable, "-m", "devsandbox", "inspect", "CONFIG['name']",
                            "--connect", f"127.0.0.1:{port}"], cwd=workdir, capture_output=True,
                           text=True, timeout=60, check=False,
                           env=dict(env, DEVSANDBOX_TOKEN="the-right-token"))
    assert right.returncode == 0 and "'app'" in right.stdout
    assert os.environ.get("DEVSANDBOX_TOKEN") != "the-right-token"
    del stop


def test_breakpoints_stop_in_reloaded_code(session):
    dap, workdir, _env = session
    stop = dap.stopped(60)
    dap.request("setBreakpoints", {"source": {"path": str(workdir / "live_app.py")},
                                   "breakpoints": []})
    dap.request("continue", {"threadId": stop["threadId"]})
    req(dap, "watch", enable=False)
    module = workdir / "livemod.py"
    new = module.read_text().replace("    return x * FACTOR\n",
                                     "    y = x * FACTOR\n    return y + 1\n")
    assert req(dap, "hotReload", module="livemod", source=new)["changed"][0]["name"] == "compute"
    module.write_text(new)
    line = new.splitlines().index("    return y + 1") + 1
    mark = dap.mark()
    dap.request("setBreakpoints", {"source": {"path": str(module)}, "breakpoints": [{"line": line}]})
    stop = dap.stopped(30, start=mark)
    frame = dap.top_frame(stop["threadId"])
    assert (frame["name"], frame["line"]) == ("compute", line)
    assert dap.locals(frame["id"]) == {"x": "2", "y": "20"}
