"""The agent as a user gets it from ``devsandbox dap``: launched with the program, invisible in
its sys.path, answering ``devsandbox/discover``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agent_support import PROGRAMS, clean_env

from devsandbox.dapclient import DapClient

SHOW_PATH = PROGRAMS / "show_path.py"


def _first_json_line(dap: DapClient, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in dap.output("stdout").splitlines():
            if line.startswith("{"):
                return json.loads(line)
        time.sleep(0.05)
    raise AssertionError(f"no output from the program; got {dap.output()!r}")


@pytest.mark.parametrize("pythonpath_from", ["launch configuration", "server environment"])
def test_launched_program_sees_plain_sys_path_and_answers_discover(
    tmp_path: Path, pythonpath_from: str
) -> None:
    site = tmp_path / "usersite"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import builtins\nbuiltins.USER_SITECUSTOMIZE_RAN = True\n"
    )
    env = clean_env(PYTHONPATH=str(site))
    plain = subprocess.run(
        [sys.executable, str(SHOW_PATH)],
        env=env,
        cwd=tmp_path,
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    expected = json.loads(plain.stdout)

    in_config = pythonpath_from == "launch configuration"
    dap = DapClient(env=clean_env() if in_config else env)
    try:
        dap.start(
            "launch",
            {
                "program": str(SHOW_PATH),
                "cwd": str(tmp_path),
                "console": "internalConsole",
                "env": {"PYTHONPATH": str(site)} if in_config else {},
            },
        )
        seen = _first_json_line(dap)
        assert seen["path"] == expected["path"]
        assert seen["user_sitecustomize_ran"] is True
        assert seen["agent_loaded"] is True
        pid = dap.event("process", 10)["body"]["systemProcessId"]
        report = dap.request("devsandbox/discover", {}, timeout=30)["body"]
        assert report["pid"] == pid
        assert any(t["main"] for t in report["threads"])
        assert "__main__" in report["modules"]["import_graph"]
    finally:
        dap.request("disconnect", {"terminateDebuggee": True}, timeout=10, check=False)
        dap.close()
