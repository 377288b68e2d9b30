"""The live commands against a plain running process: ``--pid`` injects the agent."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from live_support import clean_env, copy_programs, stop

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="injection is Linux-only"),
    pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed"),
]


def test_commands_with_pid_on_a_program_without_devsandbox(tmp_path):
    workdir = copy_programs(tmp_path)
    env = clean_env()
    proc = subprocess.Popen([sys.executable, str(workdir / "live_app.py")], cwd=workdir, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("ready")

        def cli(*args: str, code: int = 0) -> str:
            result = subprocess.run([sys.executable, "-m", "devsandbox", *args, "--pid",
                                     str(proc.pid)], cwd=workdir, env=env, capture_output=True,
                                    text=True, timeout=90, check=False)
            assert result.returncode == code, result.stderr
            return result.stdout + result.stderr

        shown = cli("inspect", "ACCOUNTS['alice']")
        assert "Account('alice', 100)" in shown and "balance: int = 100" in shown
        assert "2 instance(s) of Account" in cli("inspect", "--find", "Account")
        changed = cli("set", "ACCOUNTS['alice']", '{"balance": 7}', "--merge", "partial")
        change = changed.split("change ")[1].split()[0]
        assert cli("eval", "ACCOUNTS['alice'].balance").strip() == "7"
        # the namespace of the command line's client outlives each command
        cli("eval", "kept = 'between runs'")
        assert cli("eval", "kept").strip() == "'between runs'"
        out = cli("call", "greet", '"pid"')
        assert out.splitlines() == ["hello pid", "[stderr] warning!", "'hi pid'"]
        assert "timed out" in cli("call", "spin", "60", "--call-timeout", "0.3", code=1)
        assert "refused" in cli("eval", "import os\nos.system('true')", code=1)
        assert "rolled back" in cli("rollback", change)
        assert cli("eval", "ACCOUNTS['alice'].balance").strip() == "100"
        text = (workdir / "livemod.py").read_text()
        (workdir / "livemod.py").write_text(text.replace("x * FACTOR", "x * FACTOR * 5"))
        assert "changed compute" in cli("reload", str(workdir / "livemod.py"))
        assert json.loads(cli("eval", "--json", "RESULTS[-1]"))["value"] in ("20", "100")
        listed = cli("reload", "--list")
        version = listed.split()[0]
        assert "reverted" in cli("reload", "--revert", version)
        audit = subprocess.run([sys.executable, "-m", "devsandbox", "audit", "--limit", "0"],
                               cwd=workdir, env=env, capture_output=True, text=True, timeout=60,
                               check=False)
        assert f"[{change}]" in audit.stdout and "refused" in audit.stdout
        assert proc.poll() is None
    finally:
        stop(proc)
