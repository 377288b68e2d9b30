"""Helpers for the agent tests: sample programs in subprocesses, a recorder of hub callbacks."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.processes import clean_env, marker_line, stop_process  # noqa: F401

PROGRAMS = Path(__file__).resolve().parent / "programs"


class Recorder:
    """What the hub reported through its callbacks."""

    def __init__(self) -> None:
        self.states: list[tuple[str, str]] = []
        self.notifications: list[tuple[int, str, Any]] = []

    def on_state(self, state: str, message: str) -> None:
        self.states.append((state, message))

    def on_notification(self, pid: int, method: str, params: Any) -> None:
        self.notifications.append((pid, method, params))

    def state_names(self) -> list[str]:
        return [s for s, _ in self.states]


class Programs:
    """Starts sample programs; kills them (and their process groups) at the end."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.procs: list[subprocess.Popen[str]] = []

    def start(
        self, name: str, *args: str, env: dict[str, str], stdin: bool = True
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(PROGRAMS / name), *args],
            cwd=self.cwd,
            env=env,
            text=True,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            stop_process(proc)


async def read_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 20.0) -> str:
    """The first stdout line starting with ``prefix``."""
    assert proc.stdout is not None

    def find() -> str:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(prefix):
                return line.strip()
        err = proc.stderr.read() if proc.stderr else ""
        raise AssertionError(f"{prefix!r} never came; exit {proc.wait()}; stderr:\n{err}")

    return await asyncio.wait_for(asyncio.to_thread(find), timeout)
