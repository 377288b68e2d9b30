"""workspace/executeCommand: the commands of the hovers and code lenses, and those that choose
the recording and the position in it.  Each returns a JSON result; those a user clicks also
show a short message."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from lsprotocol import types as T

from ...errors import DevsandboxError
from ...wire.jsonrpc import RpcError
from ..recordings import HISTORY_KEEP
from .diagnostics import scanner_diagnostics

if TYPE_CHECKING:
    from ..server import DevsandboxLanguageServer

SHOW_HISTORY = "devsandbox.showHistory"
SHOW_CALLS = "devsandbox.showCalls"
OPEN = "devsandbox.recording.open"
CLOSE = "devsandbox.recording.close"
GOTO = "devsandbox.recording.goto"
LEAVE = "devsandbox.recording.leave"
SESSIONS = "devsandbox.sessions"
HOT_RELOAD = "devsandbox.hotReload"
RECORD_CALLS = "devsandbox.recordCalls"
STOP_RECORDING = "devsandbox.stopRecording"
REPLAY_LAST_CALL = "devsandbox.replayLastCall"
REPLAY_TIMEOUT = 60.0
REPLAYS_DIR = "replays"  # beside the recording (not a recording of the workspace's own)


class CommandError(DevsandboxError):
    pass


def _arg(args: tuple[Any, ...]) -> dict[str, Any]:
    if args and isinstance(args[0], dict):
        return args[0]
    return {}


def register(server: DevsandboxLanguageServer) -> None:
    register_session_commands(server)

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
        timing = (f" (p50 {result['p50_ms']:.3f} ms, p95 {result['p95_ms']:.3f} ms)"
                  if result["p50_ms"] is not None else "")
        say(f"{a.get('function')}: {result['calls']:,} calls, {result['raised']:,} raised"
            f"{timing} in {os.path.basename(index.path)}")
        return result

    @server.command(REPLAY_LAST_CALL)
    async def replay_last_call(ls, *args):  # type: ignore[no-untyped-def]
        """Run the function's last recorded call again, unmodified (modify and replay), and
        say whether it reproduced what was recorded or where it first diverged."""
        a = _arg(args)
        index = index_for(a)
        function = str(a.get("function"))
        stats = index.function(str(a.get("file")), function, int(a.get("firstLine") or 0))
        where = a.get("call") or (stats.last_call if stats else None)
        if not isinstance(where, list) or len(where) != 2:
            raise CommandError(f"{function} has no recorded call to replay")
        thread, step = int(where[0]), int(where[1])
        timeout = float(a.get("timeout") or REPLAY_TIMEOUT)
        try:
            result = await replay_recorded_call(index.path, thread, step, timeout)
        except Exception as exc:  # noqa: BLE001  (a replay error, an unreadable file: say it)
            message = f"Cannot replay the last call of {function}: {exc}"
            server.window_show_message(T.ShowMessageParams(type=T.MessageType.Error,
                                                           message=message))
            raise CommandError(message) from exc
        result["message"] = replay_message(function, step, result)
        say(result["message"])
        return result

    @server.command(OPEN)
    async def open_recording(ls, *args):  # type: ignore[no-untyped-def]
        path = args[0] if args and isinstance(args[0], str) else _arg(args).get("path")
        if not isinstance(path, str) or not os.path.isfile(path):
            raise CommandError(f"no recording at {path!r}")
        ls.recordings.opened = os.path.abspath(path)
        ls.recordings.closed = False
        await ls.recordings.refresh(wait=True)
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


async def replay_recorded_call(path: str, thread: int, step: int,
                               timeout: float = REPLAY_TIMEOUT) -> dict[str, Any]:
    """Re-run the recorded call at ``step`` of ``thread`` with its recorded inputs (modify and
    replay with no modification: recording/replaycall.py, dap/replaycall.py); the report, with
    ``reproduced``: no divergence from the recording.  The replay's own recording goes to
    ``replays/`` beside the recording."""
    from ...dap import replaycall as dap_replay
    from ...recording import replaycall as rc
    from ...recording.reader import Recording
    from ...recording.timeline import Timeline

    def prepare() -> tuple[Timeline, Any, Any, dict[str, Any]]:
        tl = Timeline(Recording(path))
        try:
            call = rc.find_call(tl, thread, step)
            return tl, call, rc.frame_steps(tl, call), rc.build_spec(tl, call, {})
        except BaseException:
            tl.rec.close()
            raise

    tl, call, old, spec = await asyncio.to_thread(prepare)
    try:
        result = await dap_replay.run(tl, call, old, spec, set(), timeout,
                                      out_dir=os.path.join(os.path.dirname(path), REPLAYS_DIR))
    finally:
        tl.rec.close()
    result["reproduced"] = result.get("divergence") is None
    return result


def _outcome(outcome: dict[str, Any]) -> str:
    if "exception" in outcome:
        return f"raised {outcome['exception']}"
    if "result" in outcome:
        return f"returned {outcome['result']}"
    return "did not finish"


def replay_message(function: str, step: int, result: dict[str, Any]) -> str:
    head = f"Replayed the last call of {function} (step {step:,})"
    replayed = _outcome(result.get("replayedResult") or {})
    divergence = result.get("divergence")
    if divergence is None:
        return (f"{head}: it reproduced the recording ({replayed}, "
                f"{result.get('replayedSteps', 0):,} steps).")
    side = divergence.get("recorded") or divergence.get("replayed") or {}
    where = f"line {side.get('line')}" if side.get("line") else "its end"
    if divergence.get("kind") == "control flow":
        new = divergence.get("replayed")
        what = ("the replay stopped early" if new is None
                else f"the replay went to line {new.get('line')} ({new.get('kind')})")
    else:
        diffs = divergence.get("differences") or []
        what = "; ".join(f"{d['name']} was {d['recorded']}, now {d['replayed']}"
                         for d in diffs[:3]) or "values differ"
    return f"{head}: it diverged at {where}: {what} (the replay {replayed})."


def _session_for(server: DevsandboxLanguageServer, file: str) -> Any:
    sessions = server.sessions.for_file(file)
    if not sessions:
        raise CommandError(f"no debug session runs {os.path.basename(file)}")
    return sessions[0]


def register_session_commands(server: DevsandboxLanguageServer) -> None:
    """Commands that act on the program through its debug session (and its agent)."""

    def say(text: str, kind: T.MessageType = T.MessageType.Info) -> None:
        server.window_show_message(T.ShowMessageParams(type=kind, message=text))

    @server.command(HOT_RELOAD)
    async def hot_reload(ls, *args):  # type: ignore[no-untyped-def]
        """Scan the document's code (the editor's text, saved or not), show the scanner's
        findings as diagnostics, then reload it into the running program (agent live/)."""
        a = _arg(args)
        file = a.get("file")
        if not isinstance(file, str):
            raise CommandError("hotReload needs a file")
        await ls.sessions.refresh(max_age=0.5)
        session = _session_for(ls, file)
        from pygls.uris import from_fs_path

        uri = from_fs_path(file)
        doc = ls.workspace.get_text_document(uri)
        text = doc.source
        try:
            report = await session.live("scan", {"code": text})
            ls.findings.set_scanner(uri, scanner_diagnostics(report, text.splitlines()))
            result = await session.live("hotReload", {
                "file": file, "source": text, "force": a.get("force") is True})
        except (DevsandboxError, RpcError) as exc:
            say(f"Hot reload of {os.path.basename(file)} failed: {exc}", T.MessageType.Error)
            raise CommandError(str(exc)) from exc
        name = os.path.basename(file)
        if not isinstance(result, dict) or result.get("status") != "ok":
            why = (result or {}).get("reason") or (result or {}).get("error") or result
            say(f"Hot reload of {name} did nothing: {why}", T.MessageType.Warning)
            raise CommandError(f"hot reload of {name}: {why}")
        changed = ", ".join(c["name"] for c in result.get("changed") or []) or "nothing changed"
        say(f"Reloaded {name} into the running program ({changed}).")
        return result

    @server.command(RECORD_CALLS)
    async def record_calls(ls, *args):  # type: ignore[no-untyped-def]
        """Start recording the calls of one function in the running program."""
        a = _arg(args)
        file, function = a.get("file"), a.get("function")
        if not isinstance(file, str) or not isinstance(function, str):
            raise CommandError("recordCalls needs a file and a function")
        session = _session_for(ls, file)
        try:
            status = await session.agent("recorder/start", {"options": {
                "functions": [function], "include": [os.path.realpath(file)]}})
        except (DevsandboxError, RpcError) as exc:
            raise CommandError(f"cannot record {function}: {exc}") from exc
        say(f"Recording the calls of {function} (devsandbox.stopRecording to stop).")
        return status

    @server.command(STOP_RECORDING)
    async def stop_recording(ls, *args):  # type: ignore[no-untyped-def]
        """Stop the program's recording and make it the current recording."""
        a = _arg(args)
        sessions = ls.sessions.for_file(a["file"]) if isinstance(a.get("file"), str) \
            else ls.sessions.all()
        if not sessions:
            raise CommandError("no debug session is running")
        try:
            stopped = await sessions[0].agent("recorder/stop")
        except (DevsandboxError, RpcError) as exc:
            raise CommandError(f"cannot stop the recording: {exc}") from exc
        path = stopped.get("path")
        if isinstance(path, str) and os.path.isfile(path):
            ls.recordings.opened = path
            ls.recordings.closed = False
            await ls.recordings.refresh(wait=True)
        return stopped
