"""The language server: pygls wiring only.

``create_server()`` builds a ``DevsandboxLanguageServer`` (which owns the session
registry, the current recording and the value context) and lets each feature
module register its handlers.  The editor is asked to refresh inline values and
code lenses, and diagnostics are republished, whenever a debug session changes
state or the current recording changes.  With no session and no recording every
request gets an empty answer and nothing is shown.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer

import devsandbox

from .context import Context
from .features import code_lens, commands, diagnostics, hover, inline_values
from .recordings import RecordingIndex, Recordings
from .sessions import DebugSession, SessionRegistry

log = logging.getLogger(__name__)

FEATURES = (hover, inline_values, code_lens, diagnostics, commands)
SESSION_SCAN_INTERVAL = 1.0
RECORDING_SCAN_INTERVAL = 1.0


class DevsandboxLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("devsandbox", devsandbox.__version__)
        self.sessions = SessionRegistry(on_change=self._session_changed)
        self.recordings = Recordings(on_change=self._recording_changed)
        self.context = Context(self.sessions, self.recordings)
        self.on_refresh: list[Any] = []  # callables run when what the editor shows is stale
        self._tasks: list[asyncio.Task[Any]] = []
        self._refresh_pending = False
        self.findings: Any = None  # features/diagnostics.py's Findings
        self.init_options: dict[str, Any] = {}  # initializationOptions: {"recording": path}

    # -- lifecycle ------------------------------------------------------------------------------

    def workspace_roots(self) -> list[str]:
        from pygls.uris import to_fs_path

        roots = [to_fs_path(f.uri) for f in self.workspace.folders.values()]
        if not roots and self.workspace.root_path:
            roots = [self.workspace.root_path]
        return [r for r in roots if r]

    def start_watching(self) -> None:
        roots = self.workspace_roots()
        self.sessions.set_workspace(roots)
        self.recordings.workspace_roots = list(roots)
        if isinstance(self.init_options.get("recording"), str):
            self.recordings.opened = self.init_options["recording"]
        self.sessions.start_watching(SESSION_SCAN_INTERVAL)
        self._tasks.append(asyncio.ensure_future(self._watch_recordings()))

    async def _watch_recordings(self) -> None:
        while True:
            try:
                await self.recordings.refresh()
            except Exception:
                log.exception("following the current recording failed")
            await asyncio.sleep(RECORDING_SCAN_INTERVAL)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        await self.sessions.close()

    # -- what changed -----------------------------------------------------------------------------

    def _session_changed(self, session: DebugSession, what: str) -> None:
        if what == "gone":
            self.context.forget(session)
        else:
            self.context.session_changed(session)
        recording = session.state.get("recording") if what != "gone" else None
        if isinstance(recording, str) and recording != self.recordings.from_session:
            self.recordings.from_session = recording
        elif what == "gone" and self.recordings.from_session is not None:
            self.recordings.from_session = None
        self.request_refresh()

    def _recording_changed(self, index: RecordingIndex | None) -> None:
        self.request_refresh()

    def request_refresh(self) -> None:
        """Ask the editor to refresh, once per burst of changes."""
        if self._refresh_pending:
            return
        self._refresh_pending = True
        asyncio.get_running_loop().call_later(0.05, self._refresh)

    def _refresh(self) -> None:
        self._refresh_pending = False
        workspace = self.client_capabilities.workspace
        if workspace is not None:
            if workspace.inline_value is not None and workspace.inline_value.refresh_support:
                _ignore_answer(self.workspace_inline_value_refresh(None))
            if workspace.code_lens is not None and workspace.code_lens.refresh_support:
                _ignore_answer(self.workspace_code_lens_refresh(None))
        for callback in list(self.on_refresh):
            try:
                callback()
            except Exception:
                log.exception("refresh callback failed")

    # -- helpers for the features -------------------------------------------------------------

    def document(self, uri: str) -> Any | None:
        """The open Python document at ``uri`` (None for other languages and schemes)."""
        doc = self.workspace.get_text_document(uri)
        if not uri.startswith("file:") or not doc.path:
            return None
        if doc.language_id == "python" or doc.path.endswith((".py", ".pyw")):
            return doc
        return None


def _ignore_answer(future: Any) -> None:
    """The editor's answer to a refresh request does not matter (nor does its refusal)."""

    def done(f: Any) -> None:
        if not f.cancelled() and f.exception() is not None:
            log.debug("the editor refused a refresh: %s", f.exception())

    future.add_done_callback(done)


def create_server() -> DevsandboxLanguageServer:
    server = DevsandboxLanguageServer()

    @server.feature(T.INITIALIZE)
    def initialize(ls: DevsandboxLanguageServer, params: T.InitializeParams) -> None:
        options = params.initialization_options
        ls.init_options = options if isinstance(options, dict) else {}

    @server.feature(T.INITIALIZED)
    def initialized(ls: DevsandboxLanguageServer, params: T.InitializedParams) -> None:
        ls.start_watching()

    @server.feature(T.SHUTDOWN)
    async def shutdown(ls: DevsandboxLanguageServer, params: Any) -> None:
        await ls.stop()

    for feature in FEATURES:
        feature.register(server)
    return server
