"""The language server over a recording made with `devsandbox record`: code lenses with call
counts, diagnostics for recorded exceptions, values in the past (hover, inline values),
histories, and the commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from lsp_support import Workspace, eventually, hover, start_lsp, stop_lsp
from lsprotocol import types as T
from pytest_lsp import LanguageClient

from devsandbox.dapclient import DapClient
from devsandbox.recording.reader import Recording

pytestmark = pytest.mark.timeout(120)


def record(ws: Workspace, out: Path | None = None) -> Path:
    """Record the sample; by default where `devsandbox lsp` looks for the newest recording."""
    out = out or ws.root / ".devsandbox" / "recordings" / "app.dsrec"
    subprocess.run([sys.executable, "-m", "devsandbox", "record", "-q", "-o", str(out), "--",
                    ws.app], cwd=ws.root, env=ws.env, check=True, timeout=60,
                   stdout=subprocess.DEVNULL)
    return out


def step_where(path: Path, line: int, **values: str) -> int:
    """The first step at ``line`` (1-based) whose locals include ``values``."""
    with Recording(str(path)) as rec:
        for ev in rec.events():
            if ev.kind == "line" and ev.line == line and all(
                    ev.locals.get(k) == v for k, v in values.items()):
                return ev.step
    raise LookupError((line, values))


async def lenses_by_function(client: LanguageClient, ws: Workspace) -> dict[str, str]:
    """The first lens of each function (what the recording saw), without its timings."""
    lenses = await client.text_document_code_lens_async(T.CodeLensParams(
        text_document=T.TextDocumentIdentifier(uri=ws.uri))) or []
    lines = ws.text().splitlines()
    out: dict[str, str] = {}
    for lens in lenses:
        assert lens.command is not None
        text = lines[lens.range.start.line][lens.range.start.character:lens.range.end.character]
        out.setdefault(text, untimed(lens.command.title))
    return out


TIMINGS = re.compile(r" · p50 [\d.,]+ (?:ms|µs) · p95 [\d.,]+ (?:ms|µs)")


def untimed(title: str) -> str:
    """A lens title without its p50 and p95 (checked in test_timings.py)."""
    return TIMINGS.sub("", title)


@pytest.fixture
async def recorded(ws: Workspace) -> tuple[Workspace, Path]:
    return ws, record(ws)


async def test_code_lenses_count_calls_and_exceptions(recorded, lsp: LanguageClient) -> None:
    ws, _ = recorded
    lenses = await eventually(lambda: lenses_by_function(lsp, ws))
    assert lenses["accumulate"] == "1 call"
    assert lenses["helper"] == "3 calls"
    assert lenses["fragile"] == "4 calls · 2 raised"
    assert lenses["__init__"] == "1 call"
    assert lenses["tick"] == "not called in this recording"
    assert lenses["area"] == "not called in this recording"

    # the lens command shows the numbers
    lens = next(x for x in await lsp.text_document_code_lens_async(T.CodeLensParams(
        text_document=T.TextDocumentIdentifier(uri=ws.uri))) if x.command.title.endswith("raised"))
    result = await lsp.workspace_execute_command_async(T.ExecuteCommandParams(
        command=lens.command.command, arguments=lens.command.arguments))
    assert result["calls"] == 4 and result["raised"] == 2 and result["function"] == "fragile"
    assert any("fragile: 4 calls, 2 raised" in m.message for m in lsp.messages)


async def test_diagnostic_for_a_recorded_exception(recorded, lsp: LanguageClient) -> None:
    ws, _ = recorded

    async def diagnostics():
        return lsp.diagnostics.get(ws.uri)

    [diag] = await eventually(diagnostics)
    assert diag.range.start.line == ws.line("raise")
    assert diag.source == "devsandbox" and diag.severity == T.DiagnosticSeverity.Warning
    assert "ValueError raised here 2 times in the recording: ValueError('too big: 2')" in \
        diag.message
    assert "scale = 20" in diag.message and "value = 2" in diag.message

    # closing the recording clears them, and the lenses
    await lsp.workspace_execute_command_async(T.ExecuteCommandParams(
        command="devsandbox.recording.close"))
    assert await eventually(lambda: _cleared(lsp, ws))
    assert await lenses_by_function(lsp, ws) == {}


async def _cleared(lsp: LanguageClient, ws: Workspace) -> bool:
    return ws.uri in lsp.diagnostics and len(lsp.diagnostics[ws.uri]) == 0


async def test_values_in_the_past(recorded, lsp: LanguageClient) -> None:
    ws, path = recorded
    await eventually(lambda: lenses_by_function(lsp, ws))

    # no position: the last value the recording saw, with the history
    text = await hover(lsp, ws, ws.position("loop_body", "total"))
    assert text is not None
    assert "total = 45" in text and "last value in the recording" in text
    assert "Changed 10 times in this recording; last at step" in text
    assert "`36` → `45`" in text and "command:devsandbox.showHistory?" in text

    # go to the step where i == 3 on the loop body, before `total += i` runs
    step = step_where(path, ws.line("loop_body") + 1, i="3")
    where = await lsp.workspace_execute_command_async(T.ExecuteCommandParams(
        command="devsandbox.recording.goto", arguments=[{"step": step}]))
    assert where["function"] == "accumulate" and where["locals"] == {"n": "10", "total": "3", "i": "3"}

    text = await hover(lsp, ws, ws.position("loop_body", "total"))
    assert text is not None and "total = 3" in text and f"step {step:,} of the recording" in text
    text = await hover(lsp, ws, ws.position("for", "n"))
    assert text is not None and "n = 10" in text
    # a name of another function has no value at this step (but its last recorded one)
    text = await hover(lsp, ws, ws.position("helper_return", "y"))
    assert text is not None and "last value in the recording" in text

    inline = await lsp.text_document_inline_value_async(T.InlineValueParams(
        text_document=T.TextDocumentIdentifier(uri=ws.uri),
        range=T.Range(T.Position(0, 0), T.Position(len(ws.text().splitlines()), 0)),
        context=T.InlineValueContext(frame_id=0, stopped_location=T.Range(
            T.Position(0, 0), T.Position(0, 0)))))
    shown = {(v.range.start.line, v.text) for v in inline}
    assert shown == {(ws.line("total_init") - 1, "n = 10"),  # the def line: its parameter
                     (ws.line("total_init"), "total = 3"), (ws.line("for"), "i = 3"),
                     (ws.line("for"), "n = 10"), (ws.line("loop_body"), "total = 3"),
                     (ws.line("loop_body"), "i = 3")}

    # the full history, through the hover's command
    history = await lsp.workspace_execute_command_async(T.ExecuteCommandParams(
        command="devsandbox.showHistory", arguments=[{
            "file": ws.app, "function": "accumulate", "name": "total"}]))
    assert history["changes"] == 10
    assert [h["value"] for h in history["history"]] == [
        "0", "1", "3", "6", "10", "15", "21", "28", "36", "45"]

    await lsp.workspace_execute_command_async(T.ExecuteCommandParams(
        command="devsandbox.recording.leave"))
    text = await hover(lsp, ws, ws.position("loop_body", "total"))
    assert text is not None and "total = 45" in text


async def test_opening_a_recording_by_command(ws: Workspace) -> None:
    elsewhere = record(ws, ws.root.parent / "other.dsrec")  # not under .devsandbox/recordings
    client = await start_lsp(ws)
    try:
        assert await lenses_by_function(client, ws) == {}
        opened = await client.workspace_execute_command_async(T.ExecuteCommandParams(
            command="devsandbox.recording.open", arguments=[str(elsewhere)]))
        assert opened["complete"] is True and opened["events"] > 100
        assert (await lenses_by_function(client, ws))["helper"] == "3 calls"
    finally:
        await stop_lsp(client)


async def test_recording_given_in_initialization_options(ws: Workspace) -> None:
    path = record(ws, ws.root.parent / "given.dsrec")
    client = await start_lsp(ws, options={"recording": str(path)})
    try:
        lenses = await eventually(lambda: lenses_by_function(client, ws))
        assert lenses["accumulate"] == "1 call"
    finally:
        await stop_lsp(client)


async def test_hover_follows_a_debug_session_in_the_past(recorded, lsp: LanguageClient) -> None:
    """A session replaying the recording (time travel) reports its position: hovers and
    inline values show the values at that step."""
    ws, path = recorded
    dap = DapClient(env=ws.env)
    ws.sessions.append(dap)
    dap.start("launch", {"devsandbox": {"replay": str(path)}, "cwd": str(ws.root)},
              breakpoints={ws.app: [{"line": ws.line("loop_body") + 1}]})
    stop = dap.stopped(timeout=30)
    start = dap.mark()
    dap.request("reverseContinue", {"threadId": stop["threadId"]})
    dap.stopped(timeout=30, start=start)

    async def past_total() -> str | None:
        text = await hover(lsp, ws, ws.position("loop_body", "total"))
        return text if text and "of the recording" in text else None

    text = await eventually(past_total)
    assert text is not None and "total = 36" in text  # the last time round: i == 9
    text = await hover(lsp, ws, ws.position("loop_body", "i"))
    assert text is not None and "i = 9" in text


async def test_hover_follows_a_live_session_stepping_back(ws: Workspace, lsp: LanguageClient) -> None:
    """A live session that records: after stepBack the hover shows the past value, and back at
    the live point the live one."""
    dap = DapClient(env=ws.env)
    ws.sessions.append(dap)
    dap.start("launch", {"program": ws.app, "cwd": str(ws.root), "console": "internalConsole",
                         "justMyCode": True, "python": sys.executable,
                         "devsandbox": {"record": True}},
              breakpoints={ws.app: [{"line": ws.line("loop_body") + 1, "condition": "i == 5"}]})
    stop = dap.stopped(timeout=30)
    text = await eventually(lambda: hover(lsp, ws, ws.position("loop_body", "total")))
    assert text is not None and "total = 10" in text and "paused in `accumulate`" in text

    for _ in range(2):  # back over `for i in range(n)` to the previous time round
        start = dap.mark()
        dap.request("stepBack", {"threadId": stop["threadId"]})
        dap.stopped(timeout=30, start=start)

    async def past() -> str | None:
        text = await hover(lsp, ws, ws.position("loop_body", "total"))
        return text if text and "of the recording" in text else None

    text = await eventually(past)
    assert text is not None and "total = 6" in text
