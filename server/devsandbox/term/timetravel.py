"""Time-travel commands of the terminal debugger (`devsandbox replay`, `devsandbox debug --record`).

They mirror the forward ones: rnext/back (next), rstep (step), rfinish (finish),
rcontinue (continue); plus history (every value an expression took), lastwrite
(which line last changed it), gotostep (jump to a step) and timeline (the calls).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequest
from .commands import TABLE

if TYPE_CHECKING:
    from .console import Debugger

BACK = "supportsStepBack"


def _move(dbg: Debugger, command: str, arguments: dict[str, Any] | None = None) -> None:
    if dbg.resume(command, arguments):
        stop = dbg.session.stop
        if stop is not None and stop.description:
            dbg.notice(stop.description)


@TABLE.command("rnext", "back", "rn", repeat=True, requires=BACK)
def do_rnext(dbg: Debugger, arg: str) -> None:
    """Step back one line, over calls (time travel: the line that ran before this one)."""
    _move(dbg, "stepBack")


@TABLE.command("rstep", "rs", repeat=True, requires=BACK)
def do_rstep(dbg: Debugger, arg: str) -> None:
    """Step back one line, into calls (the last line of a call that just returned)."""
    _move(dbg, "devsandbox/stepBackIn")


@TABLE.command("rfinish", "rf", repeat=True, requires=BACK)
def do_rfinish(dbg: Debugger, arg: str) -> None:
    """Step back out of the function, to the caller's line that called it."""
    _move(dbg, "devsandbox/stepBackOut")


@TABLE.command("rcontinue", "rc", repeat=True, requires=BACK)
def do_rcontinue(dbg: Debugger, arg: str) -> None:
    """Run backwards to the previous breakpoint hit (or the start of the recording)."""
    _move(dbg, "reverseContinue")


@TABLE.command("gotostep", "gs", usage="gotostep STEP", requires=BACK)
def do_gotostep(dbg: Debugger, arg: str) -> None:
    """Jump to a step of the recording (the numbers history and lastwrite show)."""
    try:
        step = int(arg.replace(",", ""))
    except ValueError:
        raise InvalidRequest("usage: gotostep STEP") from None
    _move(dbg, "devsandbox/gotoStep", {"step": step})


def _frame_args(dbg: Debugger) -> dict[str, Any]:
    return {"frameId": dbg.session.frame.id} if dbg.session.thread_id is not None else {}


@TABLE.command("history", "hist", usage="history EXPRESSION [all]", requires=BACK)
def do_history(dbg: Debugger, arg: str) -> None:
    """Every value EXPRESSION took in the selected frame, with the steps where it changed.
    With `all`, in every call of the function."""
    words = arg.rsplit(" ", 1)
    scope = "frame"
    if len(words) == 2 and words[1] in ("all", "--all"):
        arg, scope = words[0], "function"
    if not arg:
        raise InvalidRequest("usage: history EXPRESSION [all]")
    body = dbg.session.request("devsandbox/valueHistory",
                               {"expression": arg, "scope": scope, **_frame_args(dbg)})
    changes = body.get("changes") or []
    if not changes:
        dbg.notice(f"{arg}: no recorded value")
        return
    for change in changes:
        where = dbg.style(f"step {change['step']:>8,}", "dim")
        dbg.write(f"{where}  line {change['line']:<5} {change['value']}")
    distinct = body.get("distinct") or []
    more = " (more not shown)" if body.get("truncated") else ""
    dbg.notice(f"{len(changes)} changes, {len(distinct)} distinct values{more}")


@TABLE.command("lastwrite", "lw", usage="lastwrite EXPRESSION", requires=BACK)
def do_lastwrite(dbg: Debugger, arg: str) -> None:
    """Which line last changed EXPRESSION (a variable or attribute), with its old and new value;
    `gotostep` jumps there."""
    if not arg:
        raise InvalidRequest("usage: lastwrite EXPRESSION")
    body = dbg.session.request("devsandbox/lastWrite", {"expression": arg, **_frame_args(dbg)})
    if not body.get("found"):
        dbg.notice(body.get("message") or f"{arg} did not change")
        return
    from . import render

    where = render.short_path(body.get("file"))
    old = "(unbound)" if body.get("old") is None else body["old"]
    new = "(unbound)" if body.get("new") is None else body["new"]
    by = body.get("byDebugger")
    how = f" (by the debugger: {by['kind']})" if by else ""
    dbg.write(f"{dbg.style(arg, 'bold')} changed from {old} to {new} at step "
              f"{body['step']:,}, {where}:{body['line']} in {body['function']}{how}")


@TABLE.command("timeline", usage="timeline [START]", requires=BACK)
def do_timeline(dbg: Debugger, arg: str) -> None:
    """The recorded calls of this thread, in order and indented by depth (20 from START)."""
    start = int(arg) if arg.strip().isdigit() else 0
    body = dbg.session.request("devsandbox/timeline", {"start": start, "count": 20})
    for call in body.get("calls") or []:
        exc = call.get("exception")
        mark = dbg.style(f"  raised {exc.get('type')}", "red") if exc else ""
        dbg.write(f"{dbg.style(format(call['startStep'], '>8,'), 'dim')}  "
                  f"{'  ' * call['depth']}{call['function']}(){mark}")
    dbg.notice(f"calls {start}..{start + len(body.get('calls') or [])} of {body.get('total')}")
