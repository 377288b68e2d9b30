"""workspace/executeCommand: the commands of the hovers and code lenses, and those that choose
the recording and the position in it.  Each returns a JSON result; those a user clicks also
show a short message."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from lsprotocol import types as T

from ...errors import DevsandboxError
from ..recordings import HISTORY_KEEP

if TYPE_CHECKING:
    from ..server import DevsandboxLanguageServer

SHOW_HISTORY = "devsandbox.showHistory"
SHOW_CALLS = "devsandbox.showCalls"
OPEN = "devsandbox.recording.open"
CLOSE = "devsandbox.recording.close"
GOTO = "devsandbox.recording.goto"
LEAVE = "devsandbox.recording.leave"
SESSIONS = "devsandbox.sessions"


class CommandError(DevsandboxError):
    pass


def _arg(args: tuple[Any, ...]) -> dict[str, Any]:
    if args and isinstance(args[0], dict):
        return args[0]
    return {}


def register(server: "DevsandboxLanguageServer") -> None:
    def say(text: str) -> None:
        server.window_show_message(T.ShowMessageParams(type=T.MessageType.Info, message=text))

    def index_for(args: dict[str, Any]) -> Any:
        index = server.recordings.current
        if index is None:
            raise CommandError("no recording is open")
        wanted = args.get("recording")
        if isinstance(wanted, str) and os.path.realpath(wanted) != os.path.realpath(index.path):
            raise CommandError(f"{wanted} is not the current recording ({index.path})")
        return index

    @server.command(SHOW_HISTORY)
    def show_history(ls, *args):  # type: ignore[no-untyped-def]
        a = _arg(args)
        index = index_for(a)
        history = index.history(str(a.get("file")), str(a.get("function")), str(a.get("name")))
        if history is None:
            return {"name": a.get("name"), "changes": 0, "history": []}
        items = [{"thread": t, "step": s, "line": line, "value": v}
                 for t, s, line, v in history.recent]
        shown = ", ".join(f"step {i['step']:,}: {i['value'][:30]}" for i in items[-10:])
        say(f"{a.get('name')} in {a.get('function')} changed {history.changes:,} times"
            f"{f' (last {len(items)} shown)' if history.changes > len(items) else ''}: {shown}")
        return {"name": a.get("name"), "function": a.get("function"),
                "changes": history.changes, "kept": HISTORY_KEEP, "history": items}

    @server.command(SHOW_CALLS)
    def show_calls(ls, *args):  # type: ignore[no-untyped-def]
        a = _arg(args)
        index = index_for(a)
        stats = index.function(str(a.get("file")), str(a.get("function")),
                               int(a.get("firstLine") or 0))
        result = {"function": a.get("function"), "calls": stats.calls if stats else 0,
                  "raised": stats.raised if stats else 0,
                  "p50_ms": stats.percentile(50) if stats else None,
                  "p95_ms": stats.percentile(95) if stats else None}
        say(f"{a.get('function')}: {result['calls']:,} calls, {result['raised']:,} raised "
            f"in {os.path.basename(index.path)}")
        return result

    @server.command(OPEN)
    async def open_recording(ls, *args):  # type: ignore[no-untyped-def]
        path = args[0] if args and isinstance(args[0], str) else _arg(args).get("path")
        if not isinstance(path, str) or not os.path.isfile(path):
            raise CommandError(f"no recording at {path!r}")
        ls.recordings.opened = os.path.abspath(path)
        ls.recordings.closed = False
        await ls.recordings.refresh()
        index = ls.recordings.current
        if index is None or os.path.realpath(index.path) != os.path.realpath(path):
            raise CommandError(f"cannot read the recording {path}")
        return {"path": index.path, "events": index.events, "complete": index.complete}

    @server.command(CLOSE)
    async def close_recording(ls, *args):  # type: ignore[no-untyped-def]
        ls.recordings.opened = None
        ls.recordings.closed = True
        await ls.recordings.refresh()
        return {"closed": True}

    @server.command(GOTO)
    def goto(ls, *args):  # type: ignore[no-untyped-def]
        a = _arg(args)
        index = index_for(a)
        step = a.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            raise CommandError("goto needs a step number")
        thread = int(a.get("thread") or 1)
        snap = index.snapshot(thread, step)  # IndexError: no such step
        ls.recordings.position = (thread, step)
        ls.request_refresh()
        return {"thread": thread, "step": step, "file": snap.file, "line": snap.line,
                "function": snap.function, "locals": snap.locals}

    @server.command(LEAVE)
    def leave(ls, *args):  # type: ignore[no-untyped-def]
        ls.recordings.position = None
        ls.request_refresh()
        return {"position": None}

    @server.command(SESSIONS)
    async def sessions(ls, *args):  # type: ignore[no-untyped-def]
        await ls.sessions.refresh()
        return [{"pid": s.pid, "roots": s.roots, "program": s.program, "state": s.state}
                for s in ls.sessions.all()]
