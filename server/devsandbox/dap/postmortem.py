"""Post-mortem: a launch with ``{"devsandbox": {"replay": FILE}}`` opens a recording, no program.

The session then answers everything from the recording (see timetravel.py), starting at the
uncaught exception that ended it (where it was raised) or at its end; the first stopped event
goes out after configurationDone.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequest
from ..recording import navigate
from ..recording.reader import FormatError, Recording
from ..recording.timeline import Timeline, release_memory
from ..wire.channel import Message

if TYPE_CHECKING:
    from .timetravel import TimeTravel


async def _summarize(tl: Timeline) -> None:
    """Every chunk's summary, read once at open, on the event loop a few chunks at a time
    (about 0.5 ms each) so that it stays responsive: no worker thread, whose stack and
    malloc arena would stay resident for the rest of the session."""
    for ci in range(tl.nchunks):
        tl.summary(ci)
        if ci % 8 == 7:
            await asyncio.sleep(0)
    release_memory()


async def launch(tt: TimeTravel, request: Message, path: str) -> Any:
    args = request.get("arguments") or {}
    base = args.get("cwd") if isinstance(args.get("cwd"), str) else os.getcwd()
    full = path if os.path.isabs(path) else os.path.join(base, path)
    try:
        rec = Recording(full)
    except FileNotFoundError:
        raise InvalidRequest(f"Cannot replay: no recording at {full}.") from None
    except (OSError, FormatError) as exc:
        raise InvalidRequest(f"Cannot replay {full}: {exc}") from None
    tl = Timeline(rec)
    if not tl.thread_ids():
        rec.close()
        raise InvalidRequest(f"The recording {full} holds no events.")
    await _summarize(tl)
    tt.open(tl, replaying=True)
    where = navigate.uncaught(tl)
    if where is not None:
        found = tl.event_value(*where)
        etype = found[2] if found else "exception"
        tt.first_stop = (where[0], where[1], "exception",
                         f"Uncaught {etype}: step {where[1]:,} of {tl.step_count(where[0]):,}",
                         found[0] if found else "")
    else:
        tid = tl.thread_ids()[0]
        step = navigate.last_stop(tl, tid)
        tt.first_stop = (tid, step, "entry",
                         f"End of the recording: step {step:,} of {tl.step_count(tid):,}", None)
    end = rec.end.get("reason") or "unknown"
    tt.session.output(f"DevSandbox: replaying {full} ({rec.event_count:,} events, "
                      f"{len(tl.thread_ids())} thread(s); the recording ended: {end}).\n")
    await tt.session.start_control(args)
    tt.session.client.event("initialized", {})
    return {}
