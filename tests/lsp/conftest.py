from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from lsp_support import Workspace, start_lsp, stop_lsp
from pytest_lsp import LanguageClient


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(tmp_path)
    try:
        yield workspace
    finally:
        workspace.close_sessions()


@pytest.fixture
async def lsp(ws: Workspace) -> AsyncIterator[LanguageClient]:
    client = await start_lsp(ws)
    try:
        yield client
    finally:
        await stop_lsp(client)
