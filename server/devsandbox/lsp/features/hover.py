"""textDocument/hover: the value of the name or attribute under the cursor, in the current
context (recording position, paused frame or running program), with its type, size and a
short history from the current recording."""

from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING

from lsprotocol import types as T

from .. import source
from ..context import Value
from .commands import SHOW_HISTORY

if TYPE_CHECKING:
    from ..server import DevsandboxLanguageServer

MAX_VALUE = 1000  # characters of the value shown


def render(value: Value) -> str:
    text = value.value if len(value.value) <= MAX_VALUE else value.value[:MAX_VALUE] + "…"
    lines = ["```python", f"{value.expression} = {text}", "```"]
    facts = [f"`{value.type}`"] if value.type else []
    if value.size is not None:
        facts.append(f"{value.size:,} {'item' if value.size == 1 else 'items'}")
    facts.append(value.where)
    lines.append(" · ".join(facts))
    history = value.history
    if history is not None:
        times = "once" if history.changes == 1 else f"{history.changes:,} times"
        lines += ["", f"Changed {times} in this recording; last at step {history.last_step:,}"]
        recent = " → ".join(f"`{v[3][:40]}`" for v in history.recent[-5:])
        if recent:
            lines.append(("… → " if history.changes > 5 else "") + recent)
        if value.history_key is not None:
            args = urllib.parse.quote(json.dumps([value.history_key]))
            lines.append(f"[Show the full history](command:{SHOW_HISTORY}?{args})")
    return "\n".join(lines)


def register(server: DevsandboxLanguageServer) -> None:
    @server.feature(T.TEXT_DOCUMENT_HOVER)
    async def hover(ls: DevsandboxLanguageServer, params: T.HoverParams) -> T.Hover | None:
        doc = ls.document(params.text_document.uri)
        if doc is None:
            return None
        await ls.sessions.refresh(max_age=0.5)
        if not ls.sessions.all() and ls.recordings.current is None:
            return None
        pos = doc.position_from_client_units(params.position)
        lines = doc.lines
        if pos.line >= len(lines):
            return None
        expr = source.expression_at(lines[pos.line], pos.line, pos.character)
        if expr is None:
            return None
        value = await ls.context.value(doc.path, doc.source, expr)
        if value is None:
            return None
        span = T.Range(T.Position(expr.line, expr.start), T.Position(expr.line, expr.end))
        return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=render(value)),
                       range=doc.range_to_client_units(span))
