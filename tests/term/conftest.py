"""Fixtures for `devsandbox debug`: the real CLI in a pseudo-terminal (pexpect)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

from dsb_helpers import SAMPLES, TIMEOUT, Dsb


@pytest.fixture
def debug(tmp_path: Path) -> Iterator:
    """``debug(*args, color=False)`` starts `devsandbox debug ARGS` in the samples directory and
    waits for the first prompt unless ``wait=False``."""
    runs: list[Dsb] = []

    def start(*args: str, color: bool = False, wait: bool = True, env: dict | None = None) -> Dsb:
        environ = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"),
                       TERM="xterm")
        environ.pop("NO_COLOR", None)
        if not color:
            environ["NO_COLOR"] = "1"
        environ.update(env or {})
        child = pexpect.spawn(sys.executable, ["-m", "devsandbox", "debug", *args],
                              cwd=str(SAMPLES), env=environ, encoding="utf-8",
                              timeout=TIMEOUT, dimensions=(50, 200))
        run = Dsb(child, tmp_path)
        runs.append(run)
        if wait:
            run.expect_prompt()
        return run

    yield start
    for run in runs:
        if run.child.isalive():
            try:
                run.child.sendline("q")
                run.child.expect(pexpect.EOF, timeout=20)
            except (pexpect.TIMEOUT, pexpect.EOF, OSError):
                pass
            run.child.terminate(force=True)
