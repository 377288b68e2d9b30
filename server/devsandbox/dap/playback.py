"""``devsandbox/play``: animate the recording, forwards or backwards, at N steps a second.

    {direction?: "forward" | "backward", stepsPerSecond?: 10, steps?: N} -> {playing: true}
    {stop: true} -> {playing: false}          (pause and any motion stop it too)

Each step (the next line of any frame) is a stopped event "Playing forwards: step ...";
playing ends at either end of the recording, or at the live point of a live session.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequest
from ..recording import navigate
from ..wire.channel import Message

if TYPE_CHECKING:
    from .timetravel import TimeTravel

log = logging.getLogger(__name__)


async def play(tt: TimeTravel, request: Message) -> Any:
    args = request.get("arguments") or {}
    tt.stop_play()
    if args.get("stop"):
        return {"playing": False}
    await tt.enter(request)
    _pos, tid, _step = tt.thread_step(request)
    rate = float(args.get("stepsPerSecond") or 10)
    if not 0 < rate <= 1000:
        raise InvalidRequest("'stepsPerSecond' must be between 0 and 1000.")
    forward = (args.get("direction") or "forward") != "backward"
    limit = args.get("steps")
    tt.play_task = asyncio.ensure_future(_run(tt, tid, forward, rate, limit))
    return {"playing": True}


async def _run(tt: TimeTravel, tid: int, forward: bool, rate: float, limit: int | None) -> None:
    count = 0
    try:
        while limit is None or count < int(limit):
            await asyncio.sleep(1 / rate)
            pos = tt.pos
            if pos is None:
                return
            step = pos.step_of(tid)
            if step is None:
                return
            new = navigate.step_into(pos.tl, tid, step, forward)
            if new is None or (forward and tt.live is not None and tt.live.beyond(tid, new)):
                tt.arrive(tid, None, forward, "")
                return
            count += 1
            tt.stop_at(tid, new, "step", f"Playing {'forwards' if forward else 'backwards'}"
                       f": step {new:,} of {pos.tl.step_count(tid):,}")
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("play failed")
