"""textDocument/inlineValue (LSP 3.17): the values of the current frame's variables on the
lines of its function up to where it stopped, live or at a recording position."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types as T

from .. import source

if TYPE_CHECKING:
    from ..server import DevsandboxLanguageServer

MAX_TEXT = 80
MODULE_LOOKBACK = 200  # lines shown above a frame stopped at module level
NOISE = ("<function ", "<module ", "<class ", "<built-in ")


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def register(server: DevsandboxLanguageServer) -> None:
    @server.feature(T.TEXT_DOCUMENT_INLINE_VALUE)
    async def inline_value(ls: DevsandboxLanguageServer,
                           params: T.InlineValueParams) -> list[T.InlineValue] | None:
        doc = ls.document(params.text_document.uri)
        if doc is None:
            return None
        await ls.sessions.refresh(max_age=0.5)
        frame = await ls.context.frame_for(doc.path, params.context.frame_id)
        if frame is None:
            return []
        text = doc.source
        fn = source.function_at(text, frame.line)
        first = fn.line if fn is not None else max(1, frame.line - MODULE_LOOKBACK)
        wanted = doc.range_from_client_units(params.range)
        start = max(first - 1, wanted.start.line)
        end = min(frame.line - 1, wanted.end.line)
        names = source.names_by_line(text)
        found: list[T.InlineValue] = []
        for line in range(start, end + 1):
            for name, c0, c1 in names.get(line, ()):
                value = frame.locals.get(name)
                if value is None or value.startswith(NOISE):
                    continue
                span = doc.range_to_client_units(
                    T.Range(T.Position(line, c0), T.Position(line, c1)))
                found.append(T.InlineValueText(range=span, text=f"{name} = {_short(value)}"))
        return found
