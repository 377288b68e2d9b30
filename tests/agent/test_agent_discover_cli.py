"""``devsandbox discover``: the command a user runs against a live program."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from agent_support import Programs, clean_env, read_line


def discover_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "devsandbox", "discover", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=env or clean_env(),
        cwd=cwd,
    )


def _start_plain_busy_app(programs: Programs) -> tuple[subprocess.Popen[str], int]:
    proc = programs.start("busy_app.py", env=clean_env())  # no agent: it gets injected
    line = asyncio.run(read_line(proc, "READY"))
    return proc, int(line.split()[1])


@pytest.mark.skipif(
    shutil.which("gdb") is None or not sys.platform.startswith("linux"),
    reason="injection needs gdb on Linux",
)
def test_discover_pid_prints_a_readable_report(programs: Programs, tmp_path: Path) -> None:
    proc, child_pid = _start_plain_busy_app(programs)
    result = discover_cli("--pid", str(proc.pid), cwd=tmp_path)
    if result.returncode != 0 and "ptrace" in result.stderr:
        pytest.skip(f"injection not permitted here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"Process {proc.pid} (Python " in out
    assert "worker-1 [daemon]" in out and "at worker_loop (" in out
    assert "cruncher [daemon]" in out and "at crunch (" in out
    assert "task consumer: consumer at " in out and "awaiting Queue.get -> Future" in out
    assert "task sleeper: sleeper at " in out and "awaiting sleep -> Future" in out
    assert f"{child_pid} (no agent): {sys.executable} -c" in out
    assert "Modules: 3 own," in out and "__main__ -> app_helpers" in out
    assert "  app_helpers -> app_config" in out
    assert "__main__.REGISTRY: dict of 5000" in out
    assert "__main__.cached_square: lru_cache 3/64 entries, 7 hits, 3 misses" in out
    assert "Memory: RSS " in out
    assert proc.poll() is None  # the program keeps running


def test_discover_pid_of_no_process_fails_clearly() -> None:
    result = discover_cli("--pid", "999999999")
    assert result.returncode == 1
    assert result.stderr.startswith("devsandbox discover: ")
    assert "999999999" in result.stderr
    assert result.stdout == ""


def test_discover_connect_to_an_embedded_agent_as_json(programs: Programs) -> None:
    token = secrets.token_urlsafe(16)
    proc = programs.start("embedded_app.py", "0", env=clean_env(TEST_AGENT_TOKEN=token))
    port = int(asyncio.run(read_line(proc, "LISTENING")).split()[1])
    result = discover_cli(
        "--connect", f"127.0.0.1:{port}", "--json", env=clean_env(DEVSANDBOX_TOKEN=token)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["pid"] == proc.pid
    main = next(t for t in report["threads"] if t["main"])
    assert main["stack"][-1]["function"] == "<module>"
    # a wrong token is refused with a clear message
    bad = discover_cli("--connect", f"127.0.0.1:{port}", env=clean_env(DEVSANDBOX_TOKEN="nope"))
    assert bad.returncode == 1
    assert "refused the connection: wrong token" in bad.stderr
