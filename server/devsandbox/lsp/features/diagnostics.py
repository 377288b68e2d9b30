"""Diagnostics: the exceptions raised in the current recording, at the lines where they were
raised, with their locals, and the security scanner's findings on code about to be injected
(hot reload).  Republished when the recording changes; cleared when it goes away (the
session that reported it ended, or it was closed or removed), and the scanner's when the
session ends."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

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


SCANNER_SOURCE = "devsandbox scanner"
SEVERITY = {"low": T.DiagnosticSeverity.Hint, "medium": T.DiagnosticSeverity.Information,
            "high": T.DiagnosticSeverity.Warning, "critical": T.DiagnosticSeverity.Error}


def scanner_diagnostics(report: dict[str, Any], lines: list[str]) -> list[T.Diagnostic]:
    """The security scanner's findings on code about to be injected (agent ``live/scan``)."""
    out = []
    for f in report.get("findings") or []:
        line = max(0, int(f.get("line") or 1) - 1)
        col = max(0, int(f.get("column") or 1) - 1)
        end = len(lines[line]) if line < len(lines) else col + 1
        out.append(T.Diagnostic(
            range=T.Range(T.Position(line, col), T.Position(line, max(col + 1, end))),
            message=f"{f.get('message')} ({f.get('severity')} risk; about to be injected)",
            severity=SEVERITY.get(str(f.get("severity")), T.DiagnosticSeverity.Warning),
            source=SCANNER_SOURCE, code=f.get("rule")))
    return out


class Findings:
    """Diagnostics from the current recording and the scanner, published together."""

    def __init__(self, server: DevsandboxLanguageServer) -> None:
        self.server = server
        self.scanner: dict[str, list[T.Diagnostic]] = {}  # uri -> findings
        self._published: set[str] = set()
        self._last: tuple[object, int] | None = None
        self._version = 0

    def set_scanner(self, uri: str, items: list[T.Diagnostic]) -> None:
        if items:
            self.scanner[uri] = items
        else:
            self.scanner.pop(uri, None)
        self._version += 1
        self.publish()

    def publish(self) -> None:
        if self.scanner and not self.server.sessions.all():
            self.scanner.clear()  # the session that would have run the code has ended
            self._version += 1
        index = self.server.recordings.current
        if self._last == (index, self._version):
            return
        self._last = (index, self._version)
        wanted: dict[str, list[T.Diagnostic]] = {}
        if index is not None:
            for file, raised in index.exceptions.items():
                uri = from_fs_path(file)
                if uri:
                    wanted[uri] = [diagnostic(e, index.path)
                                   for e in sorted(raised, key=lambda e: e.line)]
        for uri, items in self.scanner.items():
            wanted[uri] = wanted.get(uri, []) + items
        for uri in self._published - set(wanted):
            self.server.text_document_publish_diagnostics(
                T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        for uri, items in wanted.items():
            self.server.text_document_publish_diagnostics(
                T.PublishDiagnosticsParams(uri=uri, diagnostics=items))
        log.debug("diagnostics: %d files, %d cleared", len(wanted),
                  len(self._published - set(wanted)))
        self._published = set(wanted)


def register(server: DevsandboxLanguageServer) -> None:
    server.findings = Findings(server)
    server.on_refresh.append(server.findings.publish)
