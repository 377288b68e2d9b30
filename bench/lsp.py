"""Hover latency of ``devsandbox lsp`` with a recording of 1,000,000 events.

A small program (a loop calling a function; about 7 events per iteration) is
recorded with ``devsandbox record`` into a workspace's ``.devsandbox/recordings``,
where the language server picks it up and indexes it.  The same program then
runs under ``devsandbox dap``, paused after the loop.  An LSP client (pygls)
measures, request by request, from sending to the answer:

  live    hover on a local of the paused frame (debugpy evaluates it) plus its
          history from the recording (the variable changed on every iteration)
  past    hover on a local at a step in the middle of the recording
          (after ``devsandbox.recording.goto``)
  inline  textDocument/inlineValue of the paused frame

and prints p50, p95 and max per kind, the time the server took to index the
recording, and whether hover p95 is below the 30 ms target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types as T
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from devsandbox.dapclient import DapClient
from devsandbox.recording.reader import Recording

HELP = "hover latency of the language server with a 1,000,000-event recording"
TARGET_MS = 30.0
EVENTS_PER_ITERATION = 7

PROGRAM = '''\
import sys

TABLE = {"name": "bench", "sizes": [1, 2, 3]}


def step(i, acc):
    x = i * 2
    acc = acc + x
    return acc


def main(n):
    acc = 0
    for i in range(n):
        acc = step(i, acc)
    done = acc  # @pause
    return done


if __name__ == "__main__":
    main(int(sys.argv[1]))
'''


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="events to record (default 1,000,000)")
    parser.add_argument("-n", "--requests", type=int, default=300,
                        help="requests of each kind (default 300)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter of the program and the servers (default: this one)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 50,000 events, 20 requests of each kind")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")


def _line(marker: str) -> int:
    """0-based line of ``# @marker`` in the program."""
    return next(i for i, t in enumerate(PROGRAM.splitlines()) if t.endswith(f"# @{marker}"))


def _position(line: int, word: str) -> T.Position:
    return T.Position(line=line, character=PROGRAM.splitlines()[line].index(word) + 1)


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": statistics.median(ordered),
            "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
            "max": ordered[-1], "n": len(ordered)}


async def _timed(samples: list[float], request: Any) -> Any:
    start = time.perf_counter()
    result = await request
    samples.append((time.perf_counter() - start) * 1000)
    return result


async def _scenario(args: argparse.Namespace, ws: Path, program: Path, env: dict[str, str],
                    recording: Path) -> dict[str, Any]:
    uri = from_fs_path(str(program))
    doc = T.TextDocumentIdentifier(uri=uri)
    client = LanguageClient("devsandbox-bench", "1")
    started = time.perf_counter()
    await client.start_io(args.python, "-m", "devsandbox", "lsp", env=env)
    dap: DapClient | None = None
    try:
        await client.initialize_async(T.InitializeParams(
            capabilities=T.ClientCapabilities(), root_uri=from_fs_path(str(ws)),
            workspace_folders=[T.WorkspaceFolder(uri=from_fs_path(str(ws)), name="ws")]))
        client.initialized(T.InitializedParams())
        client.text_document_did_open(T.DidOpenTextDocumentParams(text_document=T.TextDocumentItem(
            uri=uri, language_id="python", version=1, text=PROGRAM)))
        while not await client.text_document_code_lens_async(T.CodeLensParams(text_document=doc)):
            if time.perf_counter() - started > 900:
                raise TimeoutError("the recording was not indexed within 900 s")
            await asyncio.sleep(0.2)
        indexed = time.perf_counter() - started

        loop = asyncio.get_running_loop()
        dap = await loop.run_in_executor(None, lambda: _paused_session(args, program, env))
        samples: dict[str, list[float]] = {"live": [], "past": [], "inline": []}
        pause = _line("pause")
        acc = _position(pause, "acc")
        live_text = ""
        for i in range(args.requests + 5):
            hover = await _timed(samples["live"], client.text_document_hover_async(
                T.HoverParams(text_document=doc, position=acc)))
            live_text = hover.contents.value if hover else ""
        inline_range = T.Range(T.Position(0, 0), T.Position(len(PROGRAM.splitlines()), 0))
        for i in range(args.requests + 5):
            await _timed(samples["inline"], client.text_document_inline_value_async(
                T.InlineValueParams(text_document=doc, range=inline_range,
                                    context=T.InlineValueContext(frame_id=0, stopped_location=T.Range(
                                        T.Position(pause, 0), T.Position(pause, 0))))))
        middle = _middle_step(recording)
        await client.workspace_execute_command_async(T.ExecuteCommandParams(
            command="devsandbox.recording.goto", arguments=[{"step": middle}]))
        x = _position(_line_of("x = i * 2"), "x")
        past_text = ""
        for i in range(args.requests + 5):
            hover = await _timed(samples["past"], client.text_document_hover_async(
                T.HoverParams(text_document=doc, position=x)))
            past_text = hover.contents.value if hover else ""
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        if dap is not None:
            dap.request("disconnect", {"terminateDebuggee": True}, timeout=10, check=False)
            dap.close()
        await client.stop()
    if "acc = " not in live_text or "x = " not in past_text:
        raise RuntimeError(f"unexpected hovers: {live_text!r} / {past_text!r}")
    return {"index_seconds": indexed,
            "ms": {kind: _stats(values[5:]) for kind, values in samples.items()},
            "hover_live": live_text, "hover_past": past_text}


def _line_of(text: str) -> int:
    return next(i for i, t in enumerate(PROGRAM.splitlines()) if text in t)


def _middle_step(recording: Path) -> int:
    """A step inside ``step()`` in the middle of the recording."""
    with Recording(str(recording)) as rec:
        target = rec.event_count // 2
        for probe in range(target, target + 20):
            ev = rec.event_at(1, probe)
            if ev.code is not None and ev.code.name == "step" and "x" in ev.locals:
                return probe
    raise LookupError("no step inside step() in the middle of the recording")


def _paused_session(args: argparse.Namespace, program: Path, env: dict[str, str]) -> DapClient:
    dap = DapClient([args.python, "-m", "devsandbox", "dap"], env=env)
    dap.start("launch", {"program": str(program), "args": [str(args.iterations)],
                         "cwd": str(program.parent), "console": "internalConsole",
                         "justMyCode": True, "python": args.python},
              breakpoints={str(program): [{"line": _line("pause") + 1}]})
    dap.stopped(timeout=120)
    return dap


def run(args: argparse.Namespace) -> int:
    if args.quick:
        args.events, args.requests = 50_000, 20
    args.iterations = max(1, args.events // EVENTS_PER_ITERATION)
    with tempfile.TemporaryDirectory(prefix="devsandbox-bench-lsp-") as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        runtime_dir = Path(tmp) / "run"
        runtime_dir.mkdir(mode=0o700)
        program = ws / "loop.py"
        program.write_text(PROGRAM)
        recording = ws / ".devsandbox" / "recordings" / "loop.dsrec"
        env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime_dir))
        t0 = time.perf_counter()
        subprocess.run([args.python, "-m", "devsandbox", "record", "-q", "-o", str(recording),
                        "--", str(program), str(args.iterations)], cwd=ws, env=env, check=True,
                       stdin=subprocess.DEVNULL, timeout=900)
        record_seconds = time.perf_counter() - t0
        with Recording(str(recording)) as rec:
            events = rec.event_count
        result = asyncio.run(_scenario(args, ws, program, env, recording))
    hover_p95 = max(result["ms"]["live"]["p95"], result["ms"]["past"]["p95"])
    report = {"benchmark": "lsp", "python": sys.version.split()[0], "events": events,
              "record_seconds": record_seconds, "index_seconds": result["index_seconds"],
              "ms": result["ms"], "target_ms": TARGET_MS,
              "claim": {"hover_p95_ms": hover_p95, "holds": hover_p95 < TARGET_MS}}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"devsandbox lsp: hover latency with a recording of {events:,} events "
          f"(python {report['python']})")
    print(f"recorded in {record_seconds:.1f} s; indexed by the server in "
          f"{result['index_seconds']:.1f} s (from its start)")
    print(f"{'request':<8} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind, s in result["ms"].items():
        print(f"{kind:<8} {s['n']:>5} {s['p50']:>8.2f} {s['p95']:>8.2f} {s['max']:>8.2f}")
    verdict = "holds" if report["claim"]["holds"] else "does NOT hold"
    print(f"hover p95 {hover_p95:.2f} ms; target < {TARGET_MS:.0f} ms: {verdict}")
    return 0
