"""Experiments through ``devsandbox dap`` (real debugpy, real program) and the command line
against that session: devsandbox/experiment.* requests, the rollback event, --session."""

from __future__ import annotations

import json
import sys
import time

import pytest
from exp_support import by_name, clean_env, devsandbox, record, variant

from devsandbox.dapclient import DapClient

pytestmark = pytest.mark.timeout(300)

REQUESTS = {"devsandbox/experiment.run", "devsandbox/experiment.list",
            "devsandbox/experiment.get", "devsandbox/experiment.delete",
            "devsandbox/experiment.capture", "devsandbox/experiment.canaryStart",
            "devsandbox/experiment.canarySetShare", "devsandbox/experiment.canaryStatus",
            "devsandbox/experiment.canaryStop"}


def req(dap: DapClient, verb: str, timeout: float = 120.0, **arguments):
    return dap.request(f"devsandbox/experiment.{verb}", arguments, timeout=timeout)["body"]


def failure(dap: DapClient, verb: str, **arguments) -> str:
    response = dap.request(f"devsandbox/experiment.{verb}", arguments, timeout=60, check=False)
    assert not response["success"], response
    return response["message"]


@pytest.fixture
def session(workdir, tmp_path):
    recording = record(workdir)
    env = clean_env(XDG_RUNTIME_DIR=str(tmp_path))
    dap = DapClient(env=env, cwd=str(workdir))
    try:
        dap.start("launch", {"program": str(workdir / "shop_app.py"), "args": ["serve"],
                             "cwd": str(workdir), "console": "internalConsole",
                             "python": sys.executable}, timeout=60)
        deadline = time.monotonic() + 30
        while "ready" not in dap.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield dap, workdir, recording, env
    finally:
        dap.request("disconnect", {"terminateDebuggee": True}, timeout=10, check=False)
        dap.close()


def test_experiment_requests_through_the_debug_session(session) -> None:
    dap, workdir, recording, env = session
    assert REQUESTS <= set(dap.capabilities["devsandbox"]["requests"])

    # a recording's calls, offline (the launch configuration's interpreter and cwd)
    broken = 'def total(prices, currency="EUR")\n    return 0\n'
    answer = req(dap, "run", target="shop_app:total", name="through dap",
                 inputs={"recording": str(recording)}, settings={"repeat": 10},
                 variants=[{"name": "fast", "source": variant("fast")},
                           {"name": "wrong", "source": variant("wrong")},
                           {"name": "broken", "source": broken}])
    report = answer["report"]
    assert report["where"] == "offline" and report["status"] == "ok"
    verdicts = {name: v["verdict"] for name, v in by_name(report).items()}
    assert verdicts == {"fast": "faster", "wrong": "incorrect", "broken": "compile-error"}
    assert report["recommendation"]["winner"] == "fast"
    assert answer["path"].startswith(str(workdir / ".devsandbox" / "experiments"))
    assert "Recommendation: fast" in answer["text"]
    ident = answer["id"]
    assert ident in [e["id"] for e in req(dap, "list")["experiments"]]
    got = req(dap, "get", id=ident, svg=True)
    assert got["experiment"]["name"] == "through dap" and got["svg"].startswith("<svg")
    assert req(dap, "delete", id=ident) == {"deleted": ident}
    assert "no experiment" in failure(dap, "get", id=ident)
    assert "module:qualname" in failure(dap, "run", target="total", variants=[])

    # the next live calls, measured inside the program
    mark0 = dap.mark()
    live = req(dap, "run", target="__main__:total", save=False,
               inputs={"kind": "live", "count": 3, "timeout": 20},
               settings={"isolation": "inprocess", "repeat": 5},
               variants=[{"name": "fast", "source": variant("fast")}])["report"]
    assert live["where"] == "program" and live["inputs"]["count"] == 3
    assert by_name(live)["fast"]["correct"] is True
    # worker processes started by the program (debugpy does not follow them)
    forked = req(dap, "run", target="__main__:total", save=False,
                 inputs={"calls": [{"args": ["[1, 2, 3]", "'USD'"]}]},
                 settings={"where": "program", "repeat": 5},
                 variants=[{"name": "wrong", "source": variant("wrong")}])["report"]
    assert forked["where"] == "program" and forked["environment"]["isolation"] == "subprocess"
    assert by_name(forked)["wrong"]["differences"][0]["baseline"]["value"] == "7.5"
    assert not [m for m in dap.messages[mark0:] if m.get("command") == "startDebugging"]
    captured = req(dap, "capture", target="__main__:handle", count=2, timeout=20)
    assert captured["count"] == 2

    # a failing canary rolls back; the session says so with an event and output
    mark = dap.mark()
    started = req(dap, "canaryStart", target="__main__:handle", share=0.5, minCalls=10,
                  variant={"name": "odd", "source": "def handle(n):\n    if n % 2:\n"
                           "        raise KeyError(n)\n    return n * 2\n"})
    event = dap.event("devsandbox/experiment.canaryRolledBack", 30, start=mark)["body"]
    assert event["id"] == started["id"] and event["state"] == "rolledBack"
    assert "rolled back" in dap.output("important")
    status = req(dap, "canaryStatus", id=started["id"])
    assert status["state"] == "rolledBack" and status["routes"]["variant"]["errors"] > 0
    assert req(dap, "canaryStop", id=started["id"])["state"] == "rolledBack"

    # the command line reaches the same program through the session
    def cli(*args: str, code: int = 0) -> str:
        return devsandbox(*args, cwd=workdir, env=env, code=code).stdout

    (workdir / "double.py").write_text("def handle(n):\n    return n + n\n")
    out = cli("experiment", "canary", "start", "__main__:handle", "double.py", "--share", "0.25",
              "--session")
    ident = out.split(":")[0]
    assert "running, share 25%" in out
    time.sleep(0.5)
    status = json.loads(cli("experiment", "canary", "status", ident, "--session", "--json"))
    assert status["calls"] > 0 and status["routes"]["variant"]["errors"] == 0
    assert "share 75%" in cli("experiment", "canary", "share", ident, "0.75", "--session")
    assert req(dap, "canaryStatus", id=ident)["share"] == 0.75
    assert "stopped" in cli("experiment", "canary", "stop", ident, "--session")
    run = json.loads(cli("experiment", "run", "__main__:total", "--capture", "2",
                         "--variant", "variants/fast.py", "--in-process", "--repeat", "4",
                         "--session", "--json", "--no-save"))
    assert run["report"]["where"] == "program" and run["report"]["inputs"]["count"] == 2
