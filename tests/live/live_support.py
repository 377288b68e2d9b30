"""Helpers for the live tests: the sample program under a hub, running in a temporary copy."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.processes import clean_env, marker_line, stop_process  # noqa: F401

from devsandbox.agent_link import AgentHub
from devsandbox.errors import DevsandboxError

PROGRAMS = Path(__file__).resolve().parent / "programs"
CLIENT = "test"


def copy_programs(workdir: Path) -> Path:
    """A private copy of the sample programs (the hot-reload tests edit them)."""
    target = workdir / "app"
    shutil.copytree(PROGRAMS, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


class LiveApp:
    """``live_app.py`` running with its agent connected to ``hub``."""

    def __init__(self, hub: AgentHub, proc: subprocess.Popen[str], workdir: Path) -> None:
        self.hub = hub
        self.proc = proc
        self.workdir = workdir
        self.pid = proc.pid

    async def call(self, verb: str, **params: Any) -> Any:
        """The agent's answer to live/<verb> (params as given, plus our client name)."""
        params.setdefault("client", CLIENT)
        wait = 30.0 + float(params.get("timeout") or 0)
        return await self.hub.call("live/" + verb, params, pid=self.pid, timeout=wait)

    async def error(self, verb: str, **params: Any) -> str:
        """The error message of a call that must fail."""
        try:
            result = await self.call(verb, **params)
        except DevsandboxError as exc:
            return str(exc)
        raise AssertionError(f"live/{verb} {params} should have failed; it answered {result}")

    async def value(self, path: str) -> str:
        return str((await self.call("inspect", path=path, count=0))["repr"])

    async def wait_for(self, path: str, expected: str, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = ""
        while loop.time() < deadline:
            seen = await self.value(path)
            if seen == expected:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{path} is {seen}, never {expected}")

    def audit_entries(self) -> list[dict[str, Any]]:
        import json

        directory = self.workdir / ".devsandbox" / "audit"
        entries = []
        for path in sorted(directory.glob("*.jsonl")):
            entries += [json.loads(line) for line in path.read_text().splitlines()]
        return entries

    def alive(self) -> bool:
        return self.proc.poll() is None


async def start_app(hub: AgentHub, workdir: Path, options: dict[str, Any] | None = None) -> LiveApp:
    env = clean_env()
    env.update(hub.launch_env(options or {}, env))
    proc = subprocess.Popen([sys.executable, str(workdir / "live_app.py")], cwd=workdir, env=env,  # noqa: ASYNC220
                            text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
    if not line.startswith("ready"):
        stop(proc)
        raise AssertionError(f"the program did not start: {line!r} {proc.stderr.read()}")
    await hub.wait_for_agent(proc.pid, timeout=20)
    return LiveApp(hub, proc, workdir)


stop = stop_process


