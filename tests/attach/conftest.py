"""Fixtures for the attach tests: real programs, real debugpy, real `devsandbox dap` servers."""

from __future__ import annotations

import subprocess
import threading

import pytest

from devsandbox.dapclient import DapClient


@pytest.fixture
def runtime_dir(tmp_path, monkeypatch):
    """A private XDG_RUNTIME_DIR for this test (registry files), for us and our children."""
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    return path


class Programs:
    """Starts debuggee programs and kills the ones still running at the end of the test."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(
        self,
        argv: list[str],
        ready: str = "",
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> subprocess.Popen[str]:
        """Start ``argv`` and wait for a stdout line starting with ``ready``."""
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        if ready:
            assert proc.stdout is not None
            line = _readline(proc, timeout)
            if not line.startswith(ready):
                proc.kill()
                _, err = proc.communicate(timeout=10)
                raise AssertionError(f"{argv} did not get ready: {line!r}\n{err}")
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.communicate(timeout=10)
            except (subprocess.TimeoutExpired, ValueError):
                pass


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


@pytest.fixture
def programs():
    programs = Programs()
    yield programs
    programs.close()


@pytest.fixture
def dap_server():
    """Factory of `devsandbox dap` servers over stdio; each is closed after the test."""
    clients: list[DapClient] = []

    def make(env: dict[str, str] | None = None) -> DapClient:
        client = DapClient(env=env, stderr=subprocess.DEVNULL)
        clients.append(client)
        return client

    yield make
    for client in clients:
        if not client.closed:
            try:
                client.request("disconnect", {"terminateDebuggee": False}, timeout=5, check=False)
            except Exception:
                pass
        client.close()
