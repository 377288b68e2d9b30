"""Helpers for tests that run real programs: markers, a clean environment, stopping."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any


def marker_line(path: Path, marker: str) -> int:
    """Line number of the line carrying ``# @marker`` in ``path``."""
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if f"# @{marker}" in line:
            return number
    raise LookupError(f"no @{marker} in {path}")


def clean_env(**extra: str) -> dict[str, str]:
    """Our environment without any DevSandbox variables (the tests may run inside one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSANDBOX_")}
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Kill a test program's process group (it was started with start_new_session) and reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
