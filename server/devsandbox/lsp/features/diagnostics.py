"""Diagnostics: the exceptions raised in the current recording, at the lines where they were
raised, with their locals.  Republished when the recording changes; cleared when it goes
away (the session that reported it ended, or the file was closed or removed)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types as T
from pygls.uris import from_fs_path

from ..recordings import RaisedException

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from ..server import DevsandboxLanguageServer

SOURCE = "devsandbox"
CODE = "recorded-exception"
MAX_LOCALS = 8
MAX_LOCAL = 60


def message(exc: RaisedException) -> str:
    times = "once" if exc.count == 1 else f"{exc.count:,} times"
    text = f"{exc.exc_type} raised here {times} in the recording: {exc.value}"
    shown = list(exc.locals.items())[:MAX_LOCALS]
    if shown:
        parts = [f"{k} = {v if len(v) <= MAX_LOCAL else v[:MAX_LOCAL - 1] + '…'}"
                 for k, v in shown]
        more = len(exc.locals) - len(shown)
        text += "\nlocals: " + ", ".join(parts) + (f" (+{more} more)" if more > 0 else "")
    return text


def diagnostic(exc: RaisedException, recording: str) -> T.Diagnostic:
    line = max(0, exc.line - 1)
    return T.Diagnostic(
        range=T.Range(T.Position(line, 0), T.Position(line + 1, 0)),
        message=message(exc), severity=T.DiagnosticSeverity.Warning, source=SOURCE, code=CODE,
        data={"recording": recording, "thread": exc.thread, "step": exc.step})


def register(server: "DevsandboxLanguageServer") -> None:
    published: set[str] = set()
    last: list[object] = [None]

    def publish() -> None:
        index = server.recordings.current
        if index is last[0]:
            return
        last[0] = index
        wanted: dict[str, list[T.Diagnostic]] = {}
        if index is not None:
            for file, raised in index.exceptions.items():
                uri = from_fs_path(file)
                if uri:
                    wanted[uri] = [diagnostic(e, index.path) for e in sorted(raised, key=lambda e: e.line)]
        for uri in published - set(wanted):
            server.text_document_publish_diagnostics(
                T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        for uri, items in wanted.items():
            server.text_document_publish_diagnostics(
                T.PublishDiagnosticsParams(uri=uri, diagnostics=items))
        log.debug("diagnostics: %d files, %d cleared", len(wanted), len(published - set(wanted)))
        published.clear()
        published.update(wanted)

    server.on_refresh.append(publish)
