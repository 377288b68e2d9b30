"""Time travel in a debug session: the requests that move through the recording.

`install(session)` registers our handlers in the session's table.  While the
session is positioned in the past (`TimeTravel.pos` is set) the requests in
`INTERCEPTED` are answered from the recording (see `replay`); otherwise they
go where they went before (debugpy).  The requests in `OWN` are always ours.

Two ways into the past:
- post-mortem: a launch with ``{"devsandbox": {"replay": FILE}}`` opens a
  recording with no program: every request is answered from it, starting at
  the uncaught exception that ended it, or at its end;
- live (see `livepast`): a paused program recorded with ``devsandbox.record``;
  stepBack & co. flush the recorder and move into its past; moving forwards
  past the live point hands the session back to debugpy.

Stopped events while in the past carry a description such as
"Step back: step 1,234 of 56,789".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..errors import CannotHandle, InvalidRequest
from ..recording import navigate
from ..recording.timeline import Timeline
from ..wire.channel import Message
from . import livepast, pastbreaks, playback, postmortem, replay, travelquery
from .starting import NO_RESPONSE

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger(__name__)

# debugpy's requests that we answer while in the past
INTERCEPTED = (
    "launch", "attach", "configurationDone", "threads", "stackTrace", "scopes", "variables", "evaluate",
    "source", "exceptionInfo", "setBreakpoints", "setExceptionBreakpoints",
    "setFunctionBreakpoints", "continue", "next", "stepIn", "stepOut", "goto", "gotoTargets",
    "pause", "setVariable", "setExpression", "disconnect", "terminate", "completions",
    "stepInTargets", "modules", "loadedSources",
)
# requests that are always ours
OWN = (
    "stepBack", "reverseContinue", "dataBreakpointInfo", "setDataBreakpoints",
    "devsandbox/stepBackIn", "devsandbox/stepBackOut", "devsandbox/lastWrite",
    "devsandbox/valueHistory", "devsandbox/timeline", "devsandbox/play",
    "devsandbox/position", "devsandbox/gotoStep", "devsandbox/startRecording", "devsandbox/stopRecording",
    "devsandbox/replayCall", "devsandbox/returnToLive",
)

# ours in a recorded live session even in the present: they add the recording's places
LIVE_AWARE = frozenset({"gotoTargets", "goto"})

Handler = Callable[[Message], Awaitable[Any]]


def install(session: Session) -> TimeTravel:
    tt = TimeTravel(session)
    for command in INTERCEPTED:
        session.handlers[command] = tt.wrap(command, session.handlers.get(command))
    for command in OWN:
        session.handlers[command] = tt.own(command)
    session.ordered.update(INTERCEPTED + OWN)
    return tt


def _replay_path(request: Message) -> str | None:
    args = request.get("arguments")
    section = args.get("devsandbox") if isinstance(args, dict) else None
    path = section.get("replay") if isinstance(section, dict) else None
    if path is not None and (not isinstance(path, str) or not path):
        raise InvalidRequest("devsandbox.replay must be the path of a recording.")
    return path


def _records(request: Message) -> bool:
    args = request.get("arguments")
    section = args.get("devsandbox") if isinstance(args, dict) else None
    return isinstance(section, dict) and bool(section.get("record"))


def _name(command: str) -> str:
    return "on_" + command.replace("devsandbox/", "").replace("/", "_")


class TimeTravel:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.pos: replay.Position | None = None
        """Set while the session is positioned in the past."""
        self.tl: Timeline | None = None
        self.replaying = False  # post-mortem: no program at all
        self.breaks = pastbreaks.Breakpoints()
        self.play_task: asyncio.Task[Any] | None = None
        self.live: livepast.LiveLink | None = None  # for recorded live sessions
        self.first_stop: tuple[int, int, str, str, str | None] | None = None  # post-mortem

    # -- dispatch ---------------------------------------------------------------------------

    def wrap(self, command: str, previous: Handler | None) -> Handler:
        mine = getattr(self, _name(command), None)

        async def handler(request: Message) -> Any:
            self._observe(command, request)
            if command == "launch" and self.pos is None:
                path = _replay_path(request)
                if path is not None:
                    return await self.launch_replay(request, path)
            if command in ("launch", "attach") and self.pos is None and _records(request):
                self.live = livepast.LiveLink(self, request.get("arguments") or {})
            if mine is not None and (self.pos is not None or (
                    command in LIVE_AWARE and self.live is not None)):
                return await mine(request)
            if previous is not None:
                return await previous(request)
            self.session.forward(request)
            return NO_RESPONSE

        return handler

    def own(self, command: str) -> Handler:
        mine = getattr(self, _name(command), None)
        if mine is None:
            mine = getattr(travelquery, _name(command))

            async def query(request: Message) -> Any:
                return await mine(self, request)
            return query
        return mine  # type: ignore[no-any-return]

    def _observe(self, command: str, request: Message) -> None:
        """Remember the client's breakpoints whoever answers them."""
        args = request.get("arguments") or {}
        if command == "setBreakpoints":
            self.breaks.set_lines(args)
        elif command == "setExceptionBreakpoints":
            self.breaks.filters = set(args.get("filters") or []) | {
                o.get("filterId") for o in args.get("filterOptions") or [] if o.get("filterId")}
        elif command == "setFunctionBreakpoints":
            self.breaks.functions = list(args.get("breakpoints") or [])

    def _respond_then(self, action: Callable[[], None]) -> dict[str, Any]:
        """Run `action` (which sends events) just after the response goes out."""
        asyncio.get_running_loop().call_soon(action)
        return {}

    def hold_event(self, message: Message) -> bool:
        """Whether debugpy's event is held back because the session is in the past of a live
        program (see livepast.LiveLink.hold): a stop, a resume or a thread change of the
        live program is given to the client when the session returns to the live point."""
        return self.pos is not None and self.live is not None and not self.replaying \
            and self.live.hold(message)

    # -- positions and stops ------------------------------------------------------------------

    def require_past(self) -> replay.Position:
        if self.pos is None:
            raise InvalidRequest("Not positioned in the recording.")
        return self.pos

    async def enter(self, request: Message) -> replay.Position:
        """The position in the past; a live session enters it at the live point."""
        if self.pos is not None:
            return self.pos
        if self.live is not None:
            return await self.live.enter(request)
        raise CannotHandle(
            "Time travel needs a recording: launch with \"devsandbox\": {\"record\": true} or "
            "replay one with \"devsandbox\": {\"replay\": \"FILE\"}.")

    def stop_at(self, tid: int, step: int, reason: str, description: str,
                text: str | None = None, hit_ids: list[int] | None = None) -> None:
        pos = self.require_past()
        pos.move(tid, step)
        body: dict[str, Any] = {"reason": reason, "threadId": pos.dap_thread(tid),
                                "allThreadsStopped": True, "description": description,
                                "preserveFocusHint": False}
        if text:
            body["text"] = text
        if hit_ids:
            body["hitBreakpointIds"] = hit_ids
        self.session.stopped = body
        if self.session.control is not None:
            self.session.control.state_changed()
        if not self.session.client.closed:
            self.session.client.event("stopped", body)

    def thread_step(self, request: Message) -> tuple[replay.Position, int, int]:
        pos = self.require_past()
        tid = pos.rec_thread((request.get("arguments") or {}).get("threadId"))
        step = pos.step_of(tid)
        if step is None:
            raise InvalidRequest("That thread has not started at this point of the recording.")
        return pos, tid, step

    def arrive(self, tid: int, step: int | None, forward: bool, verb: str) -> None:
        """Stop after a step/continue; the recording's end hands back to a live program."""
        tl = self.require_past().tl
        if step is None:
            if forward and self.live is not None:
                self.live.hand_back()
                return
            step = navigate.last_stop(tl, tid) if forward else navigate.first_stop(tl, tid)
            edge = "End" if forward else "Start"
            pos = self.require_past()
            self.stop_at(tid, step, "step", f"{edge} of the recording: step {step:,} of "
                         f"{tl.step_count(tid):,}")
            del pos
            return
        if forward and self.live is not None and self.live.beyond(tid, step):
            self.live.hand_back()
            return
        self.stop_at(tid, step, "step", f"{verb}: step {step:,} of {tl.step_count(tid):,}")

    # -- launch (post-mortem) -----------------------------------------------------------------

    async def on_launch(self, request: Message) -> Any:  # only reached while replaying
        raise InvalidRequest("The session is already replaying a recording.")

    async def launch_replay(self, request: Message, path: str) -> Any:
        return await postmortem.launch(self, request, path)

    def open(self, tl: Timeline, replaying: bool) -> replay.Position:
        self.tl = tl
        self.replaying = replaying
        tid = tl.thread_ids()[0]
        self.pos = replay.Position(tl, tid, tl.first_step(tid))
        return self.pos

    async def on_configurationDone(self, request: Message) -> Any:
        if not self.replaying:
            self.session.forward(request)
            return NO_RESPONSE
        first = self.first_stop
        if first is None:
            return {}
        tid, step, reason, description, text = first
        return self._respond_then(lambda: self.stop_at(tid, step, reason, description, text))

    # -- inspection ---------------------------------------------------------------------------

    async def on_threads(self, request: Message) -> Any:
        return replay.threads(self.require_past())

    async def on_stackTrace(self, request: Message) -> Any:
        return replay.stack_trace(self.require_past(), request.get("arguments") or {})

    async def on_scopes(self, request: Message) -> Any:
        return replay.scopes(self.require_past(), request.get("arguments") or {})

    async def on_variables(self, request: Message) -> Any:
        return replay.variables(self.require_past(), request.get("arguments") or {})

    async def on_evaluate(self, request: Message) -> Any:
        return replay.evaluate(self.require_past(), request.get("arguments") or {})

    async def on_exceptionInfo(self, request: Message) -> Any:
        return replay.exception_info(self.require_past(), request.get("arguments") or {})

    async def on_source(self, request: Message) -> Any:
        if not self.replaying:
            self.session.forward(request)
            return NO_RESPONSE
        return replay.source(request.get("arguments") or {})

    async def on_completions(self, request: Message) -> Any:
        return {"targets": []}

    async def on_stepInTargets(self, request: Message) -> Any:
        return {"targets": []}

    async def on_modules(self, request: Message) -> Any:
        return {"modules": [], "totalModules": 0}

    async def on_loadedSources(self, request: Message) -> Any:
        files = sorted({c.file for c in self.require_past().tl.rec.codes if c is not None})
        return {"sources": [replay.source_of(f) for f in files]}

    async def on_setVariable(self, request: Message) -> Any:
        raise CannotHandle("The past cannot be changed: this value is from the recording "
                           "(use devsandbox/replayCall to re-run a call with other values).")

    on_setExpression = on_setVariable

    # -- breakpoints ----------------------------------------------------------------------------

    async def on_setBreakpoints(self, request: Message) -> Any:
        path = ((request.get("arguments") or {}).get("source") or {}).get("path") or ""
        bps = self.breaks.lines.get(pastbreaks.norm(path), [])
        if not self.replaying:
            self.session.forward(request)
            return NO_RESPONSE
        return {"breakpoints": pastbreaks.line_response(self.require_past().tl, bps)}

    async def on_setExceptionBreakpoints(self, request: Message) -> Any:
        if not self.replaying:
            self.session.forward(request)
            return NO_RESPONSE
        return {}

    async def on_setFunctionBreakpoints(self, request: Message) -> Any:
        if not self.replaying:
            self.session.forward(request)
            return NO_RESPONSE
        return {"breakpoints": [{"verified": True} for _ in self.breaks.functions]}

    # -- motion ---------------------------------------------------------------------------------

    async def _motion(self, request: Message, forward: bool, how: str, verb: str) -> Any:
        self.stop_play()
        await self.enter(request)
        pos, tid, step = self.thread_step(request)
        tl = pos.tl
        if how == "over":
            new = navigate.step_over(tl, tid, step, forward)
        elif how == "into":
            new = navigate.step_into(tl, tid, step, forward)
        else:
            new = navigate.step_out(tl, tid, step, forward)
        return self._respond_then(lambda: self.arrive(tid, new, forward, verb))

    async def on_next(self, request: Message) -> Any:
        return await self._motion(request, True, "over", "Step")

    async def on_stepIn(self, request: Message) -> Any:
        return await self._motion(request, True, "into", "Step in")

    async def on_stepOut(self, request: Message) -> Any:
        return await self._motion(request, True, "out", "Step out")

    async def on_stepBack(self, request: Message) -> Any:
        return await self._motion(request, False, "over", "Step back")

    async def on_stepBackIn(self, request: Message) -> Any:
        return await self._motion(request, False, "into", "Step back in")

    async def on_stepBackOut(self, request: Message) -> Any:
        return await self._motion(request, False, "out", "Step back out")

    async def _continue(self, request: Message, forward: bool) -> Any:
        self.stop_play()
        await self.enter(request)
        pos, tid, step = self.thread_step(request)
        stop = pastbreaks.find_stop(pos.tl, self.breaks, tid, step, forward,
                                    lambda text: self.session.output(text, "console"))
        if stop is None:
            return self._respond_then(lambda: self.arrive(tid, None, forward, ""))
        if forward and self.live is not None and self.live.beyond(stop.tid, stop.step):
            return self._respond_then(self.live.hand_back)
        total = pos.tl.step_count(stop.tid)
        description = stop.description.replace(f"step {stop.step:,}",
                                                f"step {stop.step:,} of {total:,}")
        return self._respond_then(lambda: self.stop_at(
            stop.tid, stop.step, stop.reason, description, stop.text, stop.hit_ids))

    async def on_continue(self, request: Message) -> Any:
        body = await self._continue(request, True)
        return dict(body, allThreadsContinued=True)

    async def on_reverseContinue(self, request: Message) -> Any:
        return await self._continue(request, False)

    async def on_pause(self, request: Message) -> Any:
        self.stop_play()
        return {}

    async def on_goto(self, request: Message) -> Any:
        args = request.get("arguments") or {}
        target = args.get("targetId")
        if self.pos is None and self.live is not None:
            if not (isinstance(target, int) and target >= replay.FIRST_ID):
                return await self.live.forward_goto(request)  # debugpy's set-next-statement
            peek = self.live.position
            if peek is None:
                raise InvalidRequest(f"Unknown goto target {target!r}.")
            where = peek.refs.get(target, "goto target")
            pos = await self.enter(request)
        else:
            pos = await self.enter(request)
            where = pos.refs.get(target, "goto target")
        if where[0] != "target":
            raise InvalidRequest(f"{target!r} is not a goto target.")
        _kind, tid, step = where
        tl = pos.tl
        return self._respond_then(lambda: self.stop_at(
            tid, step, "goto", f"Goto: step {step:,} of {tl.step_count(tid):,}"))

    async def on_gotoStep(self, request: Message) -> Any:
        """devsandbox/gotoStep {threadId?, step}: jump to a step number of a thread."""
        self.stop_play()
        pos = await self.enter(request)
        args = request.get("arguments") or {}
        tid = pos.rec_thread(args.get("threadId")) if args.get("threadId") is not None else pos.tid
        step = args.get("step")
        tl = pos.tl
        if not isinstance(step, int) or not tl.first_step(tid) <= step < tl.step_count(tid):
            raise InvalidRequest(f"'step' must be a step of the thread "
                                 f"({tl.first_step(tid)} to {tl.step_count(tid) - 1}).")
        tl.step(tid, step)  # decode its chunk now
        return self._respond_then(lambda: self.stop_at(
            tid, step, "goto", f"Goto: step {step:,} of {tl.step_count(tid):,}"))

    async def on_gotoTargets(self, request: Message) -> Any:
        return await travelquery.goto_targets(self, request)

    # -- play -------------------------------------------------------------------------------------

    def stop_play(self) -> None:
        task, self.play_task = self.play_task, None
        if task is not None and not task.done():
            task.cancel()

    async def on_play(self, request: Message) -> Any:
        return await playback.play(self, request)

    # -- end ----------------------------------------------------------------------------------------

    async def on_disconnect(self, request: Message) -> Any:
        self.stop_play()
        if self.replaying:
            self.close()
            self.session._respond(request, {})
            self.session.ended = True
            await self.session._reset()
            return NO_RESPONSE
        live = self.live
        self.close()
        if live is not None:
            live.close()
        return await self.session.disconnect(request)

    async def on_terminate(self, request: Message) -> Any:
        if self.replaying:
            return self._respond_then(lambda: self.session.client.event("terminated", {}))
        self.pos = None
        self.session.forward(request)
        return NO_RESPONSE

    def close(self) -> None:
        self.stop_play()
        if self.tl is not None:
            self.tl.rec.close()
        self.tl = None
        self.pos = None
        self.replaying = False

    async def on_returnToLive(self, request: Message) -> Any:
        """devsandbox/returnToLive: leave the past for the live point (and what happened there
        meanwhile) at once."""
        self.stop_play()
        if self.pos is None or self.live is None or self.replaying:
            raise InvalidRequest("Not in the past of a live program.")
        return self._respond_then(self.live.hand_back)

    async def on_position(self, request: Message) -> Any:
        pos = self.pos
        if pos is None:
            return {"inPast": False, "live": self.live is not None}
        st = pos.tl.step(pos.tid, pos.step)
        answer = {"inPast": True, "replaying": self.replaying,
                  "threadId": pos.dap_thread(pos.tid), "step": pos.step,
                  "steps": pos.tl.step_count(pos.tid), "line": st.line,
                  "file": pos.tl.code(st.code_id).file, "recording": pos.tl.rec.path}
        if self.live is not None and not self.replaying:
            answer["livePoint"] = self.live.summary()
        return answer
