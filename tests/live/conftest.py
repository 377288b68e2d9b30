"""Fixtures for the live tests: a hub in the test, the sample program in a subprocess."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from live_support import LiveApp, copy_programs, start_app, stop

from devsandbox.agent_link import AgentHub


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return copy_programs(tmp_path)


@pytest.fixture
async def app(workdir: Path) -> AsyncIterator[LiveApp]:
    hub = AgentHub()
    await hub.listen()
    running = None
    try:
        running = await start_app(hub, workdir)
        yield running
        assert running.alive(), "the program must keep running through the test"
    finally:
        if running is not None:
            stop(running.proc)
        await hub.close()
