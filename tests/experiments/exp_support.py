"""Helpers for the experiment tests: the sample program, its recording, the command line and
the program running with its agent connected to a hub in the test."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.processes import stop_process

from devsandbox.agent_link import AgentHub

PROGRAMS = Path(__file__).resolve().parent / "programs"
CLIENT = "test"
TIMEOUT = 120


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSANDBOX_")}
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def copy_programs(target: Path) -> Path:
    shutil.copytree(PROGRAMS, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def devsandbox(*args: str, cwd: Path, code: int | None = 0, env: dict[str, str] | None = None,
               timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "devsandbox", *args], cwd=cwd,
                          env=env or clean_env(), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    if code is not None:
        assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def devsandbox_json(*args: str, cwd: Path, code: int | None = 0, **kw: Any) -> Any:
    return json.loads(devsandbox(*args, "--json", cwd=cwd, code=code, **kw).stdout)


def record(workdir: Path) -> Path:
    out = workdir / "shop.dsrec"
    devsandbox("record", "-q", "-o", str(out), "--", "shop_app.py", "record", cwd=workdir)
    assert out.is_file()
    return out


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in report["variants"]}


def variant(name: str) -> str:
    return (PROGRAMS / "variants" / f"{name}.py").read_text()


class App:
    """``shop_app.py serve`` with its agent connected to ``hub``; notifications collected."""

    def __init__(self, hub: AgentHub, proc: subprocess.Popen[str], workdir: Path,
                 notes: list[tuple[str, Any]]) -> None:
        self.hub = hub
        self.proc = proc
        self.pid = proc.pid
        self.workdir = workdir
        self.notes = notes

    async def call(self, verb: str, wait: float = 60.0, **params: Any) -> Any:
        params.setdefault("client", CLIENT)
        wait += float(params.get("timeout") or 0)
        return await self.hub.call("experiment/" + verb, params, pid=self.pid, timeout=wait)

    async def eval(self, code: str) -> str:
        answer = await self.hub.call("live/eval", {"code": code, "client": CLIENT}, pid=self.pid,
                                     timeout=30)
        assert answer["status"] == "ok", answer
        return str(answer["value"])

    def alive(self) -> bool:
        return self.proc.poll() is None


async def start_app(workdir: Path) -> App:
    notes: list[tuple[str, Any]] = []
    hub = AgentHub(on_notification=lambda pid, method, params: notes.append((method, params)))
    await hub.listen()
    env = clean_env()
    env.update(hub.launch_env({}, env))
    proc = subprocess.Popen([sys.executable, "shop_app.py", "serve"], cwd=workdir, env=env,  # noqa: ASYNC220
                            text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        assert line.startswith("ready"), f"the program did not start: {line!r}"
        await hub.wait_for_agent(proc.pid, timeout=20)
    except BaseException:
        stop(proc)
        await hub.close()
        raise
    return App(hub, proc, workdir, notes)


stop = stop_process


