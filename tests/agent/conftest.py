"""Fixtures for the agent tests: a hub in the test, real programs in subprocesses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from agent_support import Programs, Recorder

from devsandbox.agent_link import AgentHub


@pytest.fixture
def programs(tmp_path: Path) -> Iterator[Programs]:
    progs = Programs(tmp_path)
    yield progs
    progs.stop_all()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def hub(recorder: Recorder) -> AsyncIterator[AgentHub]:
    hub = AgentHub(on_state=recorder.on_state, on_notification=recorder.on_notification)
    await hub.listen()
    try:
        yield hub
    finally:
        await hub.close()
