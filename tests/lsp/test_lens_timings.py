"""Code lenses with the recorded durations (p50 and p95, format 1.2) and "replay last call",
over a recording made with `devsandbox record` of a program that times its own calls."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lsp_support import Workspace, eventually, start_lsp, stop_lsp
from lsprotocol import types as T
from pygls.uris import from_fs_path
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.timeout(120)

PROGRAM = '''\
import json
import sys
import time

measured = []


def wait(ms):
    time.sleep(ms / 1000)
    return ms


def double(x):
    y = x * 2  # @double_body
    return y


def work():
    for ms in [10] * 9 + [40]:
        t0 = time.perf_counter_ns()
        wait(ms)
        measured.append((time.perf_counter_ns() - t0) / 1e6)
    return [double(k) for k in range(3)]


def numbers():
    yield 1
    time.sleep(0.02)
    yield 2


work()
sum(numbers())
print(json.dumps(measured))
'''

LENS = re.compile(r"^(?P<calls>[\d,]+) calls? · p50 (?P<p50>[\d.,]+) (?P<u50>ms|µs) · "
                  r"p95 (?P<p95>[\d.,]+) (?P<u95>ms|µs)$")


def nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(number: str, unit: str) -> float:
    value = float(number.replace(",", ""))
    return value / 1000 if unit == "µs" else value


class Timed:
    def __init__(self, ws: Workspace, *record_args: str) -> None:
        self.ws = ws
        self.path = ws.root / "timed.py"
        self.path.write_text(PROGRAM)
        self.recording = ws.root / ".devsandbox" / "recordings" / "timed.dsrec"
        proc = subprocess.run(
            [sys.executable, "-m", "devsandbox", "record", "-q", *record_args, "-o",
             str(self.recording), "--", str(self.path)],
            cwd=ws.root, env=ws.env, check=True, timeout=60, capture_output=True, text=True)
        self.measured: list[float] = json.loads(proc.stdout)

    @property
    def uri(self) -> str:
        return from_fs_path(str(self.path))

    def open(self, client: LanguageClient) -> None:
        client.text_document_did_open(T.DidOpenTextDocumentParams(text_document=T.TextDocumentItem(
            uri=self.uri, language_id="python", version=1, text=self.path.read_text())))

    async def lenses(self, client: LanguageClient) -> dict[str, list[T.Command]]:
        found = await client.text_document_code_lens_async(T.CodeLensParams(
            text_document=T.TextDocumentIdentifier(uri=self.uri))) or []
        lines = self.path.read_text().splitlines()
        out: dict[str, list[T.Command]] = {}
        for lens in found:
            assert lens.command is not None
            start, end = lens.range.start, lens.range.end
            out.setdefault(lines[start.line][start.character:end.character], []).append(
                lens.command)
        return out


async def test_lenses_show_p50_and_p95_of_the_recorded_calls(ws: Workspace) -> None:
    timed = Timed(ws)
    client = await start_lsp(ws)
    try:
        timed.open(client)
        lenses = await eventually(lambda: timed.lenses(client))
        titles = {name: [c.title for c in commands] for name, commands in lenses.items()}
        assert titles["wait"][1:] == ["replay last call"]
        m = LENS.match(titles["wait"][0])
        assert m is not None, titles["wait"]
        assert m["calls"] == "10"
        p50, p95 = ms(m["p50"], m["u50"]), ms(m["p95"], m["u95"])
        # each call slept its time; the program timed each around the call: the recorded
        # durations lie in between, and so do their percentiles (the lens rounds to 0.1 ms)
        assert 10 <= p50 + 0.05 and p50 <= nearest_rank(timed.measured, 50) + 0.05
        assert 40 <= p95 + 0.05 and p95 <= nearest_rank(timed.measured, 95) + 0.05

        # work called wait ten times: one call lasting at least their sum
        m = LENS.match(titles["work"][0])
        assert m is not None and m["calls"] == "1"
        # (100 ms and more are shown in whole ms)
        assert ms(m["p50"], m["u50"]) == ms(m["p95"], m["u95"]) >= sum(timed.measured) - 0.5
        # a generator: each run from its start or resume to its yield or end; the one after the
        # pause slept
        m = LENS.match(titles["numbers"][0])
        assert m is not None and m["calls"] == "3" and ms(m["p95"], m["u95"]) >= 20
        assert titles["numbers"][1:] == []  # no replay of a generator
        m = LENS.match(titles["double"][0])
        assert m is not None and m["calls"] == "3" and ms(m["p95"], m["u95"]) < 5

        # the lens command gives the numbers unrounded
        command = lenses["wait"][0]
        result = await client.workspace_execute_command_async(T.ExecuteCommandParams(
            command=command.command, arguments=command.arguments))
        assert result["calls"] == 10
        assert 10 <= result["p50_ms"] <= nearest_rank(timed.measured, 50) + 0.002
        assert 40 <= result["p95_ms"] <= nearest_rank(timed.measured, 95) + 0.002
        assert any(re.search(r"wait: 10 calls, 0 raised \(p50 1\d\.\d{3} ms, p95 \d+\.\d{3} ms\)",
                             m.message) for m in client.messages)
    finally:
        await stop_lsp(client)


async def test_replay_last_call_reproduces_then_finds_a_divergence(ws: Workspace) -> None:
    timed = Timed(ws)
    client = await start_lsp(ws)
    try:
        timed.open(client)
        lenses = await eventually(lambda: timed.lenses(client))
        [replay] = [c for c in lenses["double"] if c.title == "replay last call"]
        result = await client.workspace_execute_command_async(T.ExecuteCommandParams(
            command=replay.command, arguments=replay.arguments))
        assert result["reproduced"] is True and result["divergence"] is None
        assert result["function"] == "double"
        assert result["recordedResult"] == {"result": "4"}  # the last call: double(2)
        assert result["replayedResult"] == {"result": "4"}
        assert "reproduced the recording (returned 4" in result["message"]
        assert any(m.message == result["message"] for m in client.messages)
        replayed = Path(result["recording"])
        assert replayed.is_file() and replayed.parent.name == "replays"
        # the replay is not taken for the workspace's newest recording
        again = await eventually(lambda: timed.lenses(client))
        assert LENS.match(again["double"][0].title)["calls"] == "3"

        # the function's code changed since the recording: the replay runs the new code
        source = timed.path.read_text()
        timed.path.write_text(source.replace("y = x * 2  # @double_body",
                                             "y = x * 3  # @double_body"))
        result = await client.workspace_execute_command_async(T.ExecuteCommandParams(
            command=replay.command, arguments=replay.arguments))
        assert result["reproduced"] is False
        divergence = result["divergence"]
        line = source.splitlines().index("    y = x * 2  # @double_body") + 1
        assert divergence["kind"] == "value" and divergence["recorded"]["line"] == line + 1
        assert divergence["differences"][0] == {"name": "y", "recorded": "4", "replayed": "6"}
        assert result["replayedResult"] == {"result": "6"}
        assert f"diverged at line {line + 1}: y was 4, now 6" in result["message"]
        assert any(m.message == result["message"] for m in client.messages)
    finally:
        await stop_lsp(client)


async def test_a_recording_without_timings_has_counts_only(ws: Workspace) -> None:
    timed = Timed(ws, "--no-timings")
    client = await start_lsp(ws)
    try:
        timed.open(client)
        lenses = await eventually(lambda: timed.lenses(client))
        titles = {name: [c.title for c in commands] for name, commands in lenses.items()}
        assert titles["wait"] == ["10 calls", "replay last call"]
        assert titles["numbers"] == ["3 calls"]
        result = await client.workspace_execute_command_async(T.ExecuteCommandParams(
            command=lenses["wait"][0].command, arguments=lenses["wait"][0].arguments))
        assert result["calls"] == 10 and result["p50_ms"] is None and result["p95_ms"] is None
        [replay] = [c for c in lenses["wait"] if c.title == "replay last call"]
        result = await client.workspace_execute_command_async(T.ExecuteCommandParams(
            command=replay.command, arguments=replay.arguments))
        assert result["reproduced"] is True and result["replayedResult"] == {"result": "40"}
    finally:
        await stop_lsp(client)
