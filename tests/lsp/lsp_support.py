"""Helpers for the language server tests: a workspace holding a copy of the sample program,
its own runtime directory (so the test's debug sessions are the only ones the server sees),
real `devsandbox dap` sessions and a pytest-lsp client of `devsandbox lsp`."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types as T
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient

from devsandbox.dapclient import DapClient

SAMPLES = Path(__file__).resolve().parent / "samples"


class Workspace:
    def __init__(self, base: Path) -> None:
        self.root = base / "ws"
        self.root.mkdir()
        self.runtime = base / "run"
        self.runtime.mkdir(mode=0o700)
        shutil.copy(SAMPLES / "app.py", self.root / "app.py")
        self.app = str(self.root / "app.py")
        self.env = dict(os.environ, XDG_RUNTIME_DIR=str(self.runtime))
        self.sessions: list[DapClient] = []

    @property
    def uri(self) -> str:
        return from_fs_path(self.app)

    @property
    def root_uri(self) -> str:
        return from_fs_path(str(self.root))

    def text(self) -> str:
        return Path(self.app).read_text()

    def line(self, marker: str) -> int:
        """0-based line of the line tagged ``# @marker``."""
        for number, text in enumerate(self.text().splitlines()):
            if text.rstrip().endswith(f"# @{marker}"):
                return number
        raise LookupError(marker)

    def position(self, marker: str, word: str, nth: int = 0) -> T.Position:
        """A position inside the ``nth`` whole ``word`` on the line tagged ``marker``."""
        line = self.line(marker)
        text = self.text().splitlines()[line]
        pattern = re.escape(word) if not word[0].isalnum() else rf"\b{re.escape(word)}\b"
        col = [m.start() for m in re.finditer(pattern, text)][nth]
        return T.Position(line=line, character=col + 1)

    # -- debug sessions ---------------------------------------------------------------------------

    def launch(self, *args: str, breakpoints: list[dict[str, Any]] | None = None,
               agent: bool = True) -> DapClient:
        dap = DapClient(env=self.env)
        self.sessions.append(dap)
        config = {"program": self.app, "args": list(args), "cwd": str(self.root),
                  "console": "internalConsole", "justMyCode": True, "python": sys.executable}
        if not agent:
            config["devsandbox"] = {"agent": False}
        dap.start("launch", config, breakpoints={self.app: breakpoints} if breakpoints else None)
        return dap

    def wait_for_agent(self, dap: DapClient, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = dap.request("devsandbox/connectionState")["body"]
            if state.get("agents"):
                return
            time.sleep(0.1)
        raise TimeoutError("the agent did not connect")

    def close_sessions(self) -> None:
        for dap in self.sessions:
            if not dap.closed:
                try:
                    dap.request("disconnect", {"terminateDebuggee": True}, timeout=5, check=False)
                except Exception:  # noqa: BLE001, S110  (best effort: close() below ends it)
                    pass
            dap.close()
        self.sessions.clear()


async def start_lsp(ws: Workspace, capabilities: T.ClientCapabilities | None = None,
                    options: dict[str, Any] | None = None) -> LanguageClient:
    config = ClientServerConfig(server_command=[sys.executable, "-m", "devsandbox", "lsp"],
                                server_env=ws.env)
    client = await config.start()
    await client.initialize_session(T.InitializeParams(
        capabilities=capabilities or T.ClientCapabilities(),
        root_uri=ws.root_uri, initialization_options=options,
        workspace_folders=[T.WorkspaceFolder(uri=ws.root_uri, name="ws")]))
    client.text_document_did_open(T.DidOpenTextDocumentParams(text_document=T.TextDocumentItem(
        uri=ws.uri, language_id="python", version=1, text=ws.text())))
    return client


async def stop_lsp(client: LanguageClient) -> None:
    try:
        await asyncio.wait_for(client.shutdown_session(), 10)
    finally:
        await client.stop()


async def hover(client: LanguageClient, ws: Workspace, position: T.Position) -> str | None:
    result = await client.text_document_hover_async(T.HoverParams(
        text_document=T.TextDocumentIdentifier(uri=ws.uri), position=position))
    if result is None:
        return None
    assert isinstance(result.contents, T.MarkupContent)
    return result.contents.value


async def eventually(check: Any, timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Await ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)
