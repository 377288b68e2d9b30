"""Time travel in a live, recorded session: from debugpy's present into the past and back.

A launch with ``"devsandbox": {"record": true}`` has the agent record the
program (adapters/devsandbox/recorder/control.py).  While the program is
paused, a backward request (stepBack, reverseContinue, a goto target in the
recording, ...) asks the agent to flush the recorder (``recorder/flush``: the
file and each thread's last step), reads what is new in the file and places
the session at the live point of the stopped thread (its last recorded step:
the line debugpy is paused on).  From there the session answers from the
recording (see timetravel.py); a forward motion that reaches the live point
hands the session back to debugpy, with a stopped event for the live point.

Without an agent for the process (a subprocess's own session: its agent talks
to the parent's session), the recording is found by the process id in the
configured recording directory (the recorder names files ``...-PID.dsrec``)
and read as far as the recorder has written it (it writes every 100 ms).

Threads: the recording's threads are shown with debugpy's thread ids (matched
by name); a recorded thread debugpy does not know gets an id from
`replay.FIRST_ID` up.  Changes made while paused (setVariable, setExpression,
goto) are recorded by the recorder itself as marks.

While the session is in the past the live program may still change: another
thread stops at a breakpoint (its condition was being evaluated, it hit the
line as the first stop came), a pause asked just before lands, a thread starts
or ends.  debugpy's ``stopped``, ``continued`` and ``thread`` events are then
held (`hold`): relayed, they would name live threads whose stacks the past
view answers from the recording.  The user is told at once (an ``important``
output event saying which thread stopped where), the past view stays as it
is, and returning to the live point (stepping or continuing forwards to it,
``devsandbox/returnToLive``) gives the held thread events and the live
program's latest state: its last stop (reason, thread, breakpoint ids), or a
``continued`` event if it runs.  Other events (output, modules, breakpoints,
the end of the program) are relayed as they come.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
from typing import TYPE_CHECKING, Any

from ..errors import CannotHandle, DevsandboxError, InvalidRequest
from ..recording.reader import FormatError, Recording
from ..recording.timeline import Timeline
from ..wire.channel import Message
from . import replay
from .starting import NO_RESPONSE

if TYPE_CHECKING:
    from .timetravel import TimeTravel

log = logging.getLogger(__name__)

FLUSH = "recorder/flush"
START = "recorder/start"
STOP = "recorder/stop"


WRITER_WAIT = 0.25  # the recorder's writer flushes every 100 ms

HELD = frozenset({"stopped", "continued", "thread"})
"""debugpy's events held while the session is in the past (see `LiveLink.hold`)."""


class LiveLink:
    def __init__(self, tt: TimeTravel, config: dict[str, Any]) -> None:
        self.tt = tt
        self.session = tt.session
        section = config.get("devsandbox") if isinstance(config.get("devsandbox"), dict) else {}
        self.where = section.get("recordingPath") if isinstance(
            section.get("recordingPath"), str) else None
        self.cwd = config.get("cwd") if isinstance(config.get("cwd"), str) else os.getcwd()
        self.pid = config.get("subProcessId") if isinstance(config.get("subProcessId"), int) \
            else None
        self.recording = True
        self.tl: Timeline | None = None
        self.position: replay.Position | None = None
        self.live_steps: dict[int, int] = {}  # recording thread -> its last step (the live point)
        self.live_stopped: dict[str, Any] | None = None
        """The live program's stop to return to (its latest, while in the past)."""
        self.live_running = False  # it was resumed while the session was in the past
        self.changed: list[str] = []  # what happened at the live point meanwhile, in words
        self.held: list[Message] = []  # thread events, given back at the live point

    # -- the recording ----------------------------------------------------------------------------

    async def _agent(self, method: str, params: Any = None, timeout: float = 30) -> Any:
        hub = self.session.hub
        if hub is None or not hub.agents:
            raise CannotHandle("No DevSandbox agent is connected: time travel needs the agent "
                               "that records the program.")
        return await hub.call(method, params or {}, pid=self.session.debuggee_pid, timeout=timeout)

    async def _flush(self) -> dict[str, Any]:
        """The agent's flush answer, or (no agent for this process) the recording found by
        its process id, read after the recorder's writer had time to write the stop."""
        hub = self.session.hub
        pid = self.pid or self.session.debuggee_pid
        if hub is not None and hub.agents and (pid is None or pid in hub.agents):
            return await self._agent(FLUSH)  # type: ignore[no-any-return]
        path = self._find_recording(pid)
        if path is None:
            raise CannotHandle(f"No recording of process {pid} was found (looked in "
                               f"{self._directory()}).")
        await asyncio.sleep(WRITER_WAIT)
        return {"path": path, "threads": []}

    def _directory(self) -> str:
        where = self.where
        if where is None:
            return os.path.join(self.cwd, ".devsandbox", "recordings")
        where = os.path.expanduser(where)
        if not os.path.isabs(where):
            where = os.path.join(self.cwd, where)
        return os.path.dirname(where) if where.endswith(".dsrec") else where

    def _find_recording(self, pid: int | None) -> str | None:
        if pid is None:
            return None
        found = glob.glob(os.path.join(glob.escape(self._directory()), f"*-{pid}.dsrec"))
        return max(found, key=os.path.getmtime) if found else None

    async def peek(self) -> replay.Position | None:
        """The recording up to now (flushed and read), without entering the past."""
        if self.session.stopped is None:
            raise InvalidRequest("Pause the program first: the past is reached from a stop.")
        flush = await self._flush()
        path = flush.get("path")
        if not path:
            raise CannotHandle("The program is not being recorded (devsandbox/startRecording "
                               "starts it).")
        if self.tl is None or os.path.abspath(path) != self.tl.rec.path:
            if self.tl is not None:
                self.tl.rec.close()
            try:
                self.tl = Timeline(Recording(path))
            except (OSError, FormatError) as exc:
                raise CannotHandle(f"Cannot read the recording {path}: {exc}") from None
            self.position = None
        else:
            self.tl.refresh()
        tl = self.tl
        if not tl.thread_ids():
            return None
        self.live_steps = {t["tid"]: t["last_step"] for t in flush.get("threads") or []
                           if t.get("last_step") is not None}
        for tid in tl.thread_ids():  # what the file holds, if the agent did not say
            self.live_steps.setdefault(tid, tl.step_count(tid) - 1)
        if self.position is None:
            tid = tl.thread_ids()[0]
            self.position = replay.Position(tl, tid, self.live_steps.get(tid, 0))
        await self._map_threads(self.position)
        return self.position

    async def _map_threads(self, pos: replay.Position) -> None:
        backend = self.session.backend
        names: dict[str, int] = {}
        if backend is not None and not backend.channel.closed:
            response = await backend.channel.request("threads", {})
            for t in (response.get("body") or {}).get("threads") or []:
                names.setdefault(t.get("name"), t.get("id"))
        mapping = {}
        for tid in pos.tl.thread_ids():
            dap = names.get(pos.tl.thread_name(tid))
            mapping[tid] = dap if isinstance(dap, int) else replay.FIRST_ID + tid
        pos.thread_ids = mapping

    async def enter(self, request: Message) -> replay.Position:
        pos = await self.peek()
        if pos is None:
            raise CannotHandle("The recording holds no steps yet.")
        self.live_stopped = dict(self.session.stopped or {})
        self.live_running, self.changed, self.held = False, [], []
        dap_tid = (request.get("arguments") or {}).get("threadId", self.live_stopped.get("threadId"))
        try:
            tid = pos.rec_thread(dap_tid)
        except InvalidRequest:
            tid = pos.tl.thread_ids()[0]
        pos.move(tid, self.live_steps.get(tid, pos.tl.step_count(tid) - 1))
        self.tt.tl = pos.tl
        self.tt.replaying = False
        self.tt.pos = pos
        return pos

    async def view(self, args: dict[str, Any]) -> tuple[replay.Position, int, int, Any, Any]:
        """The recording at the live point, for questions asked while live (the session stays
        in the present): (position, thread, step, frame, frames); args.frameId is debugpy's."""
        peek = await self.peek()
        if peek is None:
            raise CannotHandle("The recording holds no steps yet.")
        dap_tid = args.get("threadId", (self.session.stopped or {}).get("threadId"))
        try:
            tid = peek.rec_thread(dap_tid)
        except InvalidRequest:
            tid = peek.tl.thread_ids()[0]
        step = self.live_steps.get(tid, peek.tl.step_count(tid) - 1)
        pos = replay.Position(peek.tl, tid, step)
        pos.thread_ids = dict(peek.thread_ids)
        frames = pos.tl.stack(tid, step)
        index = 0
        frame_id = args.get("frameId")
        backend = self.session.backend
        if frame_id is not None and backend is not None and not backend.channel.closed:
            response = await backend.channel.request("stackTrace", {"threadId": dap_tid})
            ids = [f.get("id") for f in (response.get("body") or {}).get("stackFrames") or []]
            if frame_id in ids:
                index = min(ids.index(frame_id), len(frames) - 1)
        return pos, tid, step, frames[index], frames

    def beyond(self, tid: int, step: int) -> bool:
        """Whether a step is at (or after) the live point: debugpy's business."""
        live = self.live_steps.get(tid)
        return live is not None and step >= live

    def hand_back(self) -> None:
        """Leave the past: debugpy answers again, from the live point (with what happened
        there while the session was in the past)."""
        self.tt.pos = None
        client = self.session.client
        held, self.held = self.held, []
        changed, self.changed = self.changed, []
        for message in held:
            if not client.closed:
                client.send({k: v for k, v in message.items() if k != "seq"})
        if self.live_running:
            self.live_running = False
            tid = (self.live_stopped or self.session.stopped or {}).get("threadId")
            self.live_stopped = None
            self.session.stopped = None
            if self.session.control is not None:
                self.session.control.state_changed()
            if not client.closed:
                client.event("continued", {"threadId": tid, "allThreadsContinued": True})
            return
        body = dict(self.live_stopped or self.session.stopped or {})
        if changed:  # a new stop of the live program: its own reason and breakpoints
            body["description"] = f"Back at the live point, where {changed[-1]}"
        else:
            body["description"] = "Back at the live point"
            body.pop("hitBreakpointIds", None)
        self.session.stopped = body
        if self.session.control is not None:
            self.session.control.state_changed()
        if not client.closed:
            client.event("stopped", body)

    # -- the live program's events while in the past ------------------------------------------

    def hold(self, message: Message) -> bool:
        """Hold debugpy's stopped, continued and thread events while the session is in the
        past (given back by `hand_back`); tell the user what happened.  False: relay it."""
        event, body = message.get("event"), message.get("body") or {}
        if event not in HELD:
            return False
        if event == "thread":
            self.held.append(message)
            return True
        if event == "stopped":
            self.live_stopped = dict(body)
            self.live_running = False
            self.changed.append(f"{self._thread_name(body.get('threadId'))} stopped "
                                f"({body.get('reason') or 'stop'})")
            self.session.spawn(self._tell_stop(dict(body), self.changed, len(self.changed) - 1))
        else:
            self.live_running = True
            self.changed.append("the program was resumed")
            self.session.output("DevSandbox: the live program was resumed while you are in the "
                                "past; the past view stays where it is.\n", "important")
        return True

    def _thread_name(self, dap_tid: Any) -> str:
        pos = self.tt.pos or self.position
        if pos is not None:
            for tid, dap in pos.thread_ids.items():
                if dap == dap_tid:
                    return f"thread '{pos.tl.thread_name(tid)}'"
        return f"thread {dap_tid}"

    async def _tell_stop(self, body: dict[str, Any], changed: list[str], index: int) -> None:
        """Say which live thread stopped where (debugpy's top frame of that thread)."""
        backend = self.session.backend
        frames: list[dict[str, Any]] = []
        if backend is not None and not backend.channel.closed:
            try:
                response = await asyncio.wait_for(backend.channel.request(
                    "stackTrace", {"threadId": body.get("threadId"), "levels": 1}), 5)
                frames = (response.get("body") or {}).get("stackFrames") or []
            except (DevsandboxError, TimeoutError):
                pass
        if frames:
            top = frames[0]
            path = (top.get("source") or {}).get("path") or ""
            changed[index] += f" in {top.get('name')} ({os.path.basename(path)}:{top.get('line')})"
        what = changed[index]
        if self.tt.pos is None or changed is not self.changed:
            return  # back at the live point already: its stopped event said it
        self.session.output(
            f"DevSandbox: the live program stopped while you are in the past: {what}. The past "
            f"view stays where it is; step or continue forwards to the live point (or send "
            f"devsandbox/returnToLive) to see it.\n", "important")

    def summary(self) -> dict[str, Any]:
        """The live point as devsandbox/position shows it while in the past."""
        stop = self.live_stopped or {}
        out: dict[str, Any] = {"state": "running" if self.live_running else "paused",
                               "changed": bool(self.changed or self.live_running)}
        if not self.live_running:
            out.update(threadId=stop.get("threadId"), reason=stop.get("reason"))
        return out

    # -- requests while live ----------------------------------------------------------------------

    async def goto_targets(self, request: Message) -> list[dict[str, Any]]:
        """debugpy's goto targets (lines of the paused frame) for the live program."""
        backend = self.session.backend
        if backend is None or backend.channel.closed:
            return []
        response = await backend.channel.request("gotoTargets", request.get("arguments") or {})
        if not response.get("success"):
            return []
        return list((response.get("body") or {}).get("targets") or [])

    async def forward_goto(self, request: Message) -> Any:
        self.session.forward(request)
        return NO_RESPONSE

    async def start_recording(self, request: Message) -> Any:
        options = (request.get("arguments") or {}).get("options") or {}
        status = await self._agent(START, {"options": options})
        self.recording = True
        return status

    async def stop_recording(self, request: Message) -> Any:
        if self.tt.pos is not None:
            self.hand_back()
        result = await self._agent(STOP)
        self.recording = False
        return result

    def close(self) -> None:
        if self.tl is not None:
            try:
                self.tl.rec.close()
            except DevsandboxError:
                pass
        self.tl = None
        self.position = None
