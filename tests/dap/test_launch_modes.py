"""Launch variants: the program runs as python would run it, with our agent inside."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import devsandbox

from harness.dap import launch_config
from harness.samples import sample

INTROSPECT = sample("introspect.py")


def introspection(dap) -> dict:
    for line in dap.output("stdout").splitlines():
        if line.startswith("INTROSPECT "):
            return json.loads(line[len("INTROSPECT "):])
    raise AssertionError(f"no introspection output in {dap.output()!r}")


def plain_run(python: str, *args: str) -> dict:
    out = subprocess.run([python, INTROSPECT, *args], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(INTROSPECT)).stdout
    return json.loads(out.split("INTROSPECT ", 1)[1])


def test_program_sees_what_plain_python_gives_it(dap):
    dap.start("launch", launch_config(INTROSPECT, args=["one", "two words"], justMyCode=False,
                                      cwd=os.path.dirname(INTROSPECT)))
    dap.event("exited", timeout=20)
    seen = introspection(dap)
    plain = plain_run(sys.executable, "one", "two words")
    assert seen["argv"] == plain["argv"]
    assert seen["name"] == "__main__"
    assert seen["path"][0] == plain["path"][0]
    # nothing of ours on sys.path (debugpy's own entries aside), no frames of ours on the stack
    extra = [p for p in seen["path"] if p not in plain["path"]]
    assert all("debugpy" in p for p in extra), extra
    ours = [os.path.realpath(root) for root in devsandbox.__path__]
    assert not [f for f in seen["frames"]
                if any(os.path.realpath(f).startswith(root + os.sep) for root in ours)
                or "devsandbox-agent-" in f], seen["frames"]
    assert "devsandbox.agent" in seen["modules_devsandbox"]  # the agent did start


def test_agent_can_be_switched_off(dap):
    dap.start("launch", launch_config(INTROSPECT, devsandbox={"agent": False}))
    dap.event("exited", timeout=20)
    assert introspection(dap)["modules_devsandbox"] == []
    message = dap.request("devsandbox/discover", check=False)["message"]
    assert "No DevSandbox agent" in message


def test_launch_code(dap):
    dap.start("launch", {"code": "import sys; print('code ran', sys.argv[1:])", "args": ["x"],
                         "console": "internalConsole"})
    dap.event("exited", timeout=20)
    assert "code ran ['x']" in dap.output("stdout")


def test_run_in_terminal_is_relayed_to_the_client(dap, tmp_path):
    launched = []

    def run_in_terminal(request):
        args = request["arguments"]
        env = dict(os.environ)
        env.update({k: v for k, v in (args.get("env") or {}).items() if v is not None})
        proc = subprocess.Popen(args["args"], cwd=args.get("cwd") or None, env=env,
                                stdout=open(tmp_path / "terminal.out", "w"),
                                stderr=subprocess.STDOUT)
        launched.append(proc)
        return {"processId": proc.pid}

    dap.reverse_handlers["runInTerminal"] = run_in_terminal
    dap.start("launch", launch_config(sample("loop.py"), console="integratedTerminal"))
    dap.event("exited", timeout=30)
    assert launched
    launched[0].wait(10)
    assert "result 45" in (tmp_path / "terminal.out").read_text()


def other_python() -> str | None:
    candidates = [os.environ.get("DEVSANDBOX_OTHER_PYTHON"),
                  str(Path.home() / ".cache/devsandbox-pythons/cpython-3.13/bin/python3.13"),
                  shutil.which("python3.11"), "/usr/bin/python3"]
    for candidate in candidates:
        if not candidate or not os.path.exists(candidate):
            continue
        version = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                                 capture_output=True, text=True).stdout.strip()
        if version != str(sys.version_info[:2]):
            return candidate
    return None


def test_debuggee_on_another_interpreter(dap):
    python = other_python()
    if python is None:
        pytest.skip("no second CPython version on this machine")
    dap.start("launch", dict(launch_config(INTROSPECT), python=python))
    dap.event("exited", timeout=30)
    seen = introspection(dap)
    assert seen["version"] == plain_run(python)["version"]
    assert "devsandbox.agent" in seen["modules_devsandbox"]
