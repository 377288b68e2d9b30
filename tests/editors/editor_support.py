"""Shared by the editor-client tests (VS Code, Vim, Emacs): the opt-out switch, the sample
program's lines, and killing a process tree that a test started in a session of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "lsp" / "samples" / "app.py"  # the language server tests' sample

# The editor tests test the clients, not the interpreter: scripts/test runs them on its first
# Python only (DEVSANDBOX_EDITOR_TESTS=0 for the others).
editor_tests = pytest.mark.skipif(os.environ.get("DEVSANDBOX_EDITOR_TESTS") == "0",
                                  reason="DEVSANDBOX_EDITOR_TESTS=0 (editor tests run on one Python)")


def marker_line(marker: str, path: Path = SAMPLE) -> int:
    """1-based number of the line tagged ``# @marker``."""
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# @{marker}"):
            return number
    raise LookupError(marker)


def session_members(sid: int) -> list[int]:
    """The live processes of a session (the test started its leader with setsid)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry))
    return found


def kill_session(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 3.0) -> None:
    """TERM, then KILL, every process of the session ``proc`` leads (started with
    start_new_session=True): the editor and whatever it spawned (servers, debuggees)."""
    sid = proc.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        members = session_members(sid)
        if not members:
            break
        for pid in members:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and session_members(sid):
            proc.poll()
            time.sleep(0.05)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
