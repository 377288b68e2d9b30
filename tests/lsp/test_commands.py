"""Commands that act on the running program through its debug session: hot reload (with the
security scanner's findings as diagnostics first) and recording one function's calls."""

from __future__ import annotations

import asyncio
import re

import pytest
from lsp_support import Workspace, eventually, hover
from lsprotocol import types as T
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.timeout(120)


def edit(lsp: LanguageClient, ws: Workspace, text: str, version: int) -> None:
    lsp.text_document_did_change(T.DidChangeTextDocumentParams(
        text_document=T.VersionedTextDocumentIdentifier(uri=ws.uri, version=version),
        content_changes=[T.TextDocumentContentChangeWholeDocument(text=text)]))


async def counter(lsp: LanguageClient, ws: Workspace) -> int:
    text = await eventually(lambda: hover(lsp, ws, ws.position("tick", "counter")))
    assert text is not None, "no value for counter"
    return int(text.split("counter = ")[1].split("\n")[0])


async def lenses(lsp: LanguageClient, ws: Workspace) -> list[T.CodeLens]:
    return await lsp.text_document_code_lens_async(T.CodeLensParams(
        text_document=T.TextDocumentIdentifier(uri=ws.uri))) or []


async def test_hot_reload_from_the_editor_buffer(ws: Workspace, lsp: LanguageClient) -> None:
    dap = ws.launch("spin")
    ws.wait_for_agent(dap)
    await counter(lsp, ws)  # the program has started (its agent connects before it runs)
    titles = {(x.range.start.line, x.command.title) for x in await eventually(
        lambda: lenses(lsp, ws))}
    tick_line = next(i for i, t in enumerate(ws.text().splitlines()) if t.startswith("def tick"))
    assert {(tick_line, "record calls"), (tick_line, "hot reload")} <= titles

    # the edited (unsaved) buffer: tick() now adds 1000
    edit(lsp, ws, ws.text().replace("counter += 1  # @tick", "counter += 1000  # @tick"), 2)
    lens = next(x for x in await lenses(lsp, ws)
                if x.command.title == "hot reload" and x.range.start.line == tick_line)
    result = await lsp.workspace_execute_command_async(T.ExecuteCommandParams(
        command=lens.command.command, arguments=lens.command.arguments))
    assert result["status"] == "ok" and result["changed"] == [{"name": "tick", "functions": 1}]
    before = await counter(lsp, ws)
    await asyncio.sleep(0.5)
    assert await counter(lsp, ws) - before >= 1000
    assert not lsp.diagnostics.get(ws.uri)  # nothing risky in that code

    # risky code: the scanner's findings are shown where they are, and the reload is refused
    risky = ws.text().replace("counter += 1  # @tick",
                              "counter += 1  # @tick\n    os.system('true')")
    edit(lsp, ws, risky, 3)
    with pytest.raises(JsonRpcException, match="refused"):
        await lsp.workspace_execute_command_async(T.ExecuteCommandParams(
            command="devsandbox.hotReload", arguments=[{"file": ws.app}]))
    findings = [d for d in lsp.diagnostics.get(ws.uri, []) if d.source == "devsandbox scanner"]
    assert findings and findings[0].range.start.line == ws.line("tick") + 1
    assert "about to be injected" in findings[0].message
    assert any("failed" in m.message for m in lsp.messages)

    (ws.root / "stop").write_text("")
    dap.event("exited", timeout=20)
    ws.close_sessions()
    # the session is gone: so are the scanner's findings
    async def cleared() -> bool:
        return not [d for d in lsp.diagnostics.get(ws.uri, []) if d.source == "devsandbox scanner"]
    assert await eventually(cleared)


async def test_record_the_calls_of_one_function(ws: Workspace, lsp: LanguageClient) -> None:
    dap = ws.launch("spin")
    ws.wait_for_agent(dap)
    await counter(lsp, ws)
    status = await lsp.workspace_execute_command_async(T.ExecuteCommandParams(
        command="devsandbox.recordCalls", arguments=[{"file": ws.app, "function": "tick"}]))
    assert status["running"] is True
    await asyncio.sleep(1.0)
    stopped = await lsp.workspace_execute_command_async(T.ExecuteCommandParams(
        command="devsandbox.stopRecording", arguments=[{"file": ws.app}]))
    assert stopped["path"].endswith(".dsrec")
    tick_line = next(i for i, t in enumerate(ws.text().splitlines()) if t.startswith("def tick"))
    titles = [x.command.title for x in await lenses(lsp, ws) if x.range.start.line == tick_line]
    calls = [t for t in titles if re.match(r"[\d,]+ calls? ", t + " ")]
    assert calls and int(calls[0].split()[0].replace(",", "")) >= 10, titles
    (ws.root / "stop").write_text("")
    dap.event("exited", timeout=20)
