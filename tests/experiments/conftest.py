"""Fixtures for the experiment tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from exp_support import App, copy_programs, record, start_app, stop


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the programs and a recording of ``shop_app.py record`` (once per module)."""
    workdir = copy_programs(tmp_path_factory.mktemp("exp") / "app")
    return workdir, record(workdir)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return copy_programs(tmp_path / "app")


@pytest.fixture
async def app(workdir: Path) -> AsyncIterator[App]:
    running = await start_app(workdir)
    try:
        yield running
        assert running.alive(), "the program must keep running through the test"
    finally:
        stop(running.proc)
        await running.hub.close()
