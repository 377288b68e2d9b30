"""Fixtures for the time-travel tests (helpers in tt_support.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from tt_support import PROGRAMS, Replay, Truth, env, export, record

from devsandbox.dapclient import DapClient
from devsandbox.recording import chunks


@pytest.fixture(scope="module")
def loop_recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    out = tmp_path_factory.mktemp("rec") / "loop.dsrec"
    record(PROGRAMS / "loop.py", out)
    return out, export(out)


@pytest.fixture
def replay_of():
    opened: list[Replay] = []

    def open_(recording: Path, **kw: Any) -> Replay:
        r = Replay(recording, **kw)
        opened.append(r)
        return r

    yield open_
    for r in opened:
        r.close()


@pytest.fixture(params=["native", "python"])
def scanner(request, monkeypatch):
    """The chunk scanner a test runs with: the C one (devsandbox._timescan) or its Python
    fallback."""
    if request.param == "native":
        if chunks.native is None:
            pytest.skip("devsandbox._timescan is not built")
    else:
        monkeypatch.setattr(chunks, "native", None)
    return request.param


@pytest.fixture
def live(tmp_path: Path):
    """A `devsandbox dap` client for a live session, and a directory for its recording."""
    client = DapClient([sys.executable, "-m", "devsandbox", "dap"], env=env())
    yield client, tmp_path
    if client.proc is not None and client.proc.stdin is not None and not client.proc.stdin.closed:
        try:
            client.request("disconnect", {"terminateDebuggee": True}, timeout=15, check=False)
        finally:
            client.close()
