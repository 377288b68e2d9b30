"""Fixtures for the recorder tests: run programs under the recorder and under
the reference settrace recorder, export, compare."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
PROGRAMS = HERE / "programs"
ROOT = HERE.parent.parent
TIMEOUT = 120


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONHASHSEED"] = "0"
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT / "adapters"), str(ROOT / "server")])
    e.pop("DEVSANDBOX_OPTIONS", None)
    return e


def record(program: Path, out: Path, *args: str, options: dict | None = None,
           timeout: float = TIMEOUT, cwd: Path | None = None) -> subprocess.CompletedProcess:
    opts = {"out": str(out), "include": [str(program.parent) + "/*"], **(options or {})}
    cmd = [sys.executable, "-m", "devsandbox.recorder", "--options", json.dumps(opts), "--",
           str(program), *args]
    return subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or program.parent)


def reference(program: Path, out: Path, *args: str, edits: list | None = None,
              extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(HERE / "reference.py"), str(out), str(program.parent),
           *(["--edits", json.dumps(edits)] if edits else []), "--", str(program), *args]
    return subprocess.run(cmd, env={**env(), **(extra_env or {})}, capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=program.parent)


def devsandbox(*args: str, timeout: float = TIMEOUT, cwd: Path | None = None
               ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "devsandbox", *args], env=env(),
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


def export(recording: Path, marks: bool = False) -> list[dict]:
    proc = devsandbox("export", str(recording), *(["--marks"] if marks else []))
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


_ADDR = re.compile(r"0x[0-9a-fA-F]+")


def _norm(text: str) -> str:
    return _ADDR.sub("0x?", text)


def comparable(ev: dict, cut: set[str] = frozenset()) -> tuple:
    loc = tuple(sorted((k, _norm(v)) for k, v in ev["locals"].items() if k not in cut))
    extra: object = None
    if ev["kind"] == "return":
        extra = None if "<return>" in cut else _norm(ev["return"])
    elif ev["kind"] == "exception":
        exc = ev["exception"]
        extra = (exc["type"], None if "<exception>" in cut else _norm(exc["value"]))
    return (ev["kind"], ev["file"], ev["line"], ev["function"], loc, extra)


def cut_names(ev: dict) -> set[str]:
    """What our recording shows truncated (not compared)."""
    cut = set(ev.get("truncated", ()))
    if ev.get("return_truncated"):
        cut.add("<return>")
    if ev.get("exception", {}).get("truncated"):
        cut.add("<exception>")
    return cut


def per_thread(events: list[dict]) -> dict[str, list[dict]]:
    """Events grouped by thread name; unnamed (raw) threads numbered in order of appearance."""
    out: dict[str, list[dict]] = {}
    unnamed: dict[object, str] = {}
    for ev in events:
        name = ev.get("thread_name")
        if name is None:
            key = ev.get("thread", len(unnamed))
            name = unnamed.setdefault(key, f"<raw {len(unnamed)}>")
        out.setdefault(name, []).append(ev)
    return out


def assert_same(ours: list[dict], ref: list[dict]) -> None:
    a, b = per_thread(ours), per_thread(ref)
    assert sorted(a) == sorted(b), "threads differ"
    for name in b:
        x, y = a[name], b[name]
        for i, (ev, rv) in enumerate(zip(x, y)):
            cut = cut_names(ev)
            a_ev, r_ev = comparable(ev, cut), comparable(rv, cut)
            assert a_ev == r_ev, f"thread {name}, step {i}:\n ours {a_ev}\n  ref {r_ev}"
        assert len(x) == len(y), f"thread {name}: {len(x)} events, reference {len(y)}"


@pytest.fixture
def programs() -> Path:
    return PROGRAMS
