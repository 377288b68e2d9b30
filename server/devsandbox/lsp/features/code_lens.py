"""textDocument/codeLens: on every function and method, what the current recording saw
("1,204 calls · p50 0.8 ms · p95 3.1 ms · 3 raised": the durations when the recording has
timings, format 1.2; a generator's or coroutine's: each run, from a start or resume to its yield
or return), and "replay last
call" on the functions it called (not generators or coroutines): their last recorded call runs
again with its recorded inputs (devsandbox.replayLastCall, modify and replay with no
modification) and the user learns whether it reproduced the recording or where it diverged;
while a debug session runs the file, the commands "record calls" and "hot reload"; on
functions with stored experiments, "Run experiment" (features/experiments.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types as T

from .. import source
from ..recordings import FunctionStats
from . import experiments
from .commands import HOT_RELOAD, RECORD_CALLS, REPLAY_LAST_CALL, SHOW_CALLS

if TYPE_CHECKING:
    from ..server import DevsandboxLanguageServer


def _ms(value: float) -> str:
    if value < 0.1:
        return f"{value * 1000:.0f} µs"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def title(stats: FunctionStats | None) -> str:
    if stats is None or not stats.calls:
        return "not called in this recording"
    parts = [f"{stats.calls:,} call{'s' if stats.calls != 1 else ''}"]
    p50, p95 = stats.percentile(50), stats.percentile(95)
    if p50 is not None and p95 is not None:
        parts += [f"p50 {_ms(p50)}", f"p95 {_ms(p95)}"]
    if stats.raised:
        parts.append(f"{stats.raised:,} raised")
    return " · ".join(parts)


def register(server: DevsandboxLanguageServer) -> None:
    experiments.register(server)  # the devsandbox.experiment.run command

    @server.feature(T.TEXT_DOCUMENT_CODE_LENS, T.CodeLensOptions(resolve_provider=False))
    def code_lens(ls: DevsandboxLanguageServer,
                  params: T.CodeLensParams) -> list[T.CodeLens] | None:
        doc = ls.document(params.text_document.uri)
        if doc is None:
            return []
        index = ls.recordings.current
        live = bool(ls.sessions.for_file(doc.path))
        stored = experiments.experiments_for(doc.path)
        if index is None and not live and not stored:
            return []
        lenses: list[T.CodeLens] = []
        for fn in source.functions(doc.source):
            line = fn.line - 1
            span = doc.range_to_client_units(T.Range(
                T.Position(line, fn.name_col), T.Position(line, fn.name_col + len(fn.name))))
            args: dict[str, Any] = {"file": doc.path, "function": fn.qualname,
                                    "firstLine": fn.first_line}
            if index is not None:
                stats = index.function(doc.path, fn.qualname, fn.first_line)
                lenses.append(T.CodeLens(range=span, command=T.Command(
                    title=title(stats), command=SHOW_CALLS,
                    arguments=[dict(args, recording=index.path)])))
                if stats is not None and stats.last_call:
                    lenses.append(T.CodeLens(range=span, command=T.Command(
                        title="replay last call", command=REPLAY_LAST_CALL,
                        arguments=[dict(args, recording=index.path, call=stats.last_call)])))
            if live:
                lenses.append(T.CodeLens(range=span, command=T.Command(
                    title="record calls", command=RECORD_CALLS, arguments=[args])))
                lenses.append(T.CodeLens(range=span, command=T.Command(
                    title="hot reload", command=HOT_RELOAD, arguments=[args])))
            lenses += experiments.lenses(stored, fn.qualname, span, args)
        return lenses
