"""textDocument/codeLens: on every function and method, what the current recording saw
("1,204 calls · p50 0.8 ms · 3 raised"), and the commands that apply to it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types as T

from .. import source
from ..recordings import FunctionStats

if TYPE_CHECKING:
    from ..server import DevsandboxLanguageServer

from .commands import SHOW_CALLS  # noqa: E402


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


def register(server: "DevsandboxLanguageServer") -> None:
    @server.feature(T.TEXT_DOCUMENT_CODE_LENS, T.CodeLensOptions(resolve_provider=False))
    def code_lens(ls: "DevsandboxLanguageServer",
                  params: T.CodeLensParams) -> list[T.CodeLens] | None:
        doc = ls.document(params.text_document.uri)
        index = ls.recordings.current
        if doc is None or index is None:
            return []
        lenses: list[T.CodeLens] = []
        for fn in source.functions(doc.source):
            stats = index.function(doc.path, fn.qualname, fn.first_line)
            line = fn.line - 1
            span = doc.range_to_client_units(T.Range(
                T.Position(line, fn.name_col), T.Position(line, fn.name_col + len(fn.name))))
            args: dict[str, Any] = {"file": doc.path, "function": fn.qualname,
                                    "firstLine": fn.first_line, "recording": index.path}
            lenses.append(T.CodeLens(range=span, command=T.Command(
                title=title(stats), command=SHOW_CALLS, arguments=[args])))
        return lenses
