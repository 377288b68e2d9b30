"""The language server against live `devsandbox dap` sessions: hover and inline values at a
breakpoint, module globals of a running program through its agent, and silence when there
is no session."""

from __future__ import annotations

import asyncio

import pytest
from lsp_support import Workspace, eventually, hover
from lsprotocol import types as T
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.timeout(120)


def paused_in_accumulate(ws: Workspace) -> None:
    dap = ws.launch(breakpoints=[{"line": ws.line("loop_body") + 1, "condition": "i == 3"}])
    stop = dap.stopped(timeout=30)
    assert stop["reason"] == "breakpoint"


async def test_hover_at_a_breakpoint(ws: Workspace, lsp: LanguageClient) -> None:
    paused_in_accumulate(ws)

    text = await hover(lsp, ws, ws.position("loop_body", "total"))
    assert text is not None
    assert "total = 3" in text and "`int`" in text and "paused in `accumulate`" in text

    text = await hover(lsp, ws, ws.position("loop_body", "i"))
    assert text is not None and "i = 3" in text

    # a module-level name is evaluated in the <module> frame, with its size
    text = await hover(lsp, ws, ws.position("settings", "SETTINGS"))
    assert text is not None
    assert "SETTINGS = {'mode': 'fast', 'retries': 3}" in text and "2 items" in text
    assert "paused in `<module>`" in text

    # names in another function of the stack are evaluated in that function's frame
    text = await hover(lsp, ws, ws.position("call", "accumulate"))
    assert text is not None and "function accumulate" in text

    # keywords, strings and numbers have no value
    assert await hover(lsp, ws, ws.position("loop_body", "+=")) is None
    assert await hover(lsp, ws, T.Position(line=ws.line("for"), character=5)) is None  # "for"


async def test_hover_of_parameters_and_attributes_in_the_paused_frame(
        ws: Workspace, lsp: LanguageClient) -> None:
    dap = ws.launch(breakpoints=[{"line": ws.line("call") + 1}])
    dap.stopped(timeout=30)
    lines = ws.text().splitlines()
    main_line = next(i for i, t in enumerate(lines) if t.startswith("def main"))
    text = await hover(lsp, ws, T.Position(line=main_line, character=lines[main_line].index("mode") + 1))
    assert text is not None and "mode = 'once'" in text and "`str`" in text and "4 items" in text
    # an attribute path of a module global, from the <module> frame
    init_line = next(i for i, t in enumerate(lines) if "self.size = size" in t)
    box_line = next(i for i, t in enumerate(lines) if t.startswith("box = "))
    text = await hover(lsp, ws, T.Position(line=box_line, character=1))
    assert text is not None and "box = <__main__.Box object" in text
    assert await hover(lsp, ws, T.Position(line=init_line, character=lines[init_line].index(
        "size") + 1)) is None  # `self` is not in a paused frame of __init__


async def test_inline_values_at_a_breakpoint(ws: Workspace, lsp: LanguageClient) -> None:
    paused_in_accumulate(ws)
    stop_line = ws.line("loop_body")
    result = await lsp.text_document_inline_value_async(T.InlineValueParams(
        text_document=T.TextDocumentIdentifier(uri=ws.uri),
        range=T.Range(T.Position(0, 0), T.Position(len(ws.text().splitlines()), 0)),
        context=T.InlineValueContext(frame_id=0, stopped_location=T.Range(
            T.Position(stop_line, 0), T.Position(stop_line, 0)))))
    assert result is not None
    shown = {(v.range.start.line, v.text) for v in result}
    assert (ws.line("total_init"), "total = 3") in shown
    assert (ws.line("for"), "i = 3") in shown
    assert (ws.line("for"), "n = 10") in shown
    assert (stop_line, "total = 3") in shown
    # only the lines of the stopped function, up to where it stopped
    assert all(ws.line("total_init") - 1 <= line <= stop_line for line, _ in shown)
    assert all(isinstance(v, T.InlineValueText) for v in result)


async def test_hover_of_module_globals_while_the_program_runs(ws: Workspace,
                                                              lsp: LanguageClient) -> None:
    dap = ws.launch("spin")
    ws.wait_for_agent(dap)

    async def counter_value() -> str | None:
        return await hover(lsp, ws, ws.position("tick", "counter"))

    text = await eventually(counter_value)
    assert text is not None and "module global of the running program" in text
    first = int(text.split("counter = ")[1].split("\n")[0])
    await asyncio.sleep(0.3)
    later = await counter_value()
    assert later is not None and int(later.split("counter = ")[1].split("\n")[0]) > first

    settings = await hover(lsp, ws, ws.position("settings", "SETTINGS"))
    assert settings is not None
    assert "SETTINGS = {'mode': 'fast', 'retries': 3}" in settings
    assert "`dict`" in settings and "2 items" in settings

    # locals of a function are not module globals: nothing to show while running
    assert await hover(lsp, ws, ws.position("loop_body", "total")) is None

    (ws.root / "stop").write_text("")
    dap.event("exited", timeout=20)


async def test_attribute_paths_while_the_program_runs(ws: Workspace, lsp: LanguageClient) -> None:
    dap = ws.launch("spin")
    ws.wait_for_agent(dap)
    # hover the module's own uses: write a probe line into the document the editor shows
    probe = ws.text() + "\nprint(box.size, box.area, SETTINGS)\n"
    lsp.text_document_did_change(T.DidChangeTextDocumentParams(
        text_document=T.VersionedTextDocumentIdentifier(uri=ws.uri, version=2),
        content_changes=[T.TextDocumentContentChangeWholeDocument(text=probe)]))
    line = len(probe.splitlines()) - 1
    col = probe.splitlines()[line].index
    text = await eventually(lambda: hover(lsp, ws, T.Position(line=line, character=col("size"))))
    assert text is not None and "box.size = 7" in text and "module global of the running" in text
    # on `box` itself: the object, shown without calling its (default) repr
    text = await hover(lsp, ws, T.Position(line=line, character=col("box") + 1))
    assert text is not None and "box = <__main__.Box object at 0x" in text
    assert "`__main__.Box`" in text
    # a property is not run while the program runs
    assert await hover(lsp, ws, T.Position(line=line, character=col("area") + 1)) is None
    (ws.root / "stop").write_text("")
    dap.event("exited", timeout=20)


async def test_quiet_without_a_session(ws: Workspace, lsp: LanguageClient) -> None:
    assert await hover(lsp, ws, ws.position("loop_body", "total")) is None
    assert await hover(lsp, ws, ws.position("settings", "SETTINGS")) is None
    inline = await lsp.text_document_inline_value_async(T.InlineValueParams(
        text_document=T.TextDocumentIdentifier(uri=ws.uri),
        range=T.Range(T.Position(0, 0), T.Position(50, 0)),
        context=T.InlineValueContext(frame_id=1, stopped_location=T.Range(
            T.Position(20, 0), T.Position(20, 0)))))
    assert not inline
    lenses = await lsp.text_document_code_lens_async(T.CodeLensParams(
        text_document=T.TextDocumentIdentifier(uri=ws.uri)))
    assert not lenses
    await asyncio.sleep(1.5)  # a session scan or two
    assert lsp.diagnostics == {} or all(not d for d in lsp.diagnostics.values())
    assert lsp.messages == []
    assert [m for m in lsp.log_messages if m.type <= T.MessageType.Warning] == []


async def test_values_follow_the_program(ws: Workspace) -> None:
    """When the session stops again, hovers show the new values and the editor is asked to
    refresh its inline values and code lenses."""
    from lsp_support import start_lsp, stop_lsp

    caps = T.ClientCapabilities(workspace=T.WorkspaceClientCapabilities(
        inline_value=T.InlineValueWorkspaceClientCapabilities(refresh_support=True),
        code_lens=T.CodeLensWorkspaceClientCapabilities(refresh_support=True)))
    client = await start_lsp(ws, capabilities=caps)
    refreshes: list[str] = []

    @client.feature(T.WORKSPACE_INLINE_VALUE_REFRESH)
    def inline_refresh(params: None) -> None:
        refreshes.append("inlineValue")

    @client.feature(T.WORKSPACE_CODE_LENS_REFRESH)
    def lens_refresh(params: None) -> None:
        refreshes.append("codeLens")

    try:
        dap = ws.launch(breakpoints=[{"line": ws.line("loop_body") + 1, "condition": "i >= 3"}])
        stop = dap.stopped(timeout=30)
        text = await eventually(lambda: hover(client, ws, ws.position("loop_body", "total")))
        assert text is not None and "total = 3" in text
        await eventually(lambda: _true_if(refreshes))
        refreshes.clear()

        start = dap.mark()
        dap.request("continue", {"threadId": stop["threadId"]})
        dap.stopped(timeout=30, start=start)

        async def total_is_6() -> bool:
            text = await hover(client, ws, ws.position("loop_body", "total"))
            return text is not None and "total = 6" in text

        assert await eventually(total_is_6)
        assert await eventually(lambda: _true_if("inlineValue" in refreshes))
        assert "codeLens" in refreshes
    finally:
        await stop_lsp(client)


async def _true_if(value: object) -> bool:
    return bool(value)
