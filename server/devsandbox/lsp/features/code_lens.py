"""textDocument/codeLens: on every function and method, what the current recording saw
("1,204 calls · p50 0.8 ms · 3 raised"), and, while a debug session runs the file, the
commands "record calls" and "hot reload"; on functions with stored experiments, "Run
experiment" (features/experiments.py).  ("replay last call" does not exist yet.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types as T

from .. import source
from ..recordings import FunctionStats
from . import experiments
from .commands import HOT_RELOAD, RECORD_CALLS, SHOW_CALLS

if TYPE_CHECKING:
    from ..server import DevsandboxLanguageServer


def _ms(value: float) -> str:
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
            if live:
                lenses.append(T.CodeLens(range=span, command=T.Command(
                    title="record calls", command=RECORD_CALLS, arguments=[args])))
                lenses.append(T.CodeLens(range=span, command=T.Command(
                    title="hot reload", command=HOT_RELOAD, arguments=[args])))
            lenses += experiments.lenses(stored, fn.qualname, span, args)
        return lenses
