"""Editor tests: a real editor, in batch or headless mode, asks `devsandbox lsp` for a hover
while a real `devsandbox dap` session is paused at a breakpoint."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lsp"))

from lsp_support import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(tmp_path)
    try:
        yield workspace
    finally:
        workspace.close_sessions()
