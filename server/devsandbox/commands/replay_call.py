"""``devsandbox replay-call FILE``: re-run a recorded call with changes and show where it diverges."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from ..errors import DevsandboxError
from ..recording import navigate
from ..recording import replaycall as rc
from ..recording.reader import FormatError, Recording
from ..recording.timeline import Timeline

NAME = "replay-call"
HELP = ("re-run one recorded call with other arguments, globals or source, and report the first "
        "divergence from the recording")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the recording (.dsrec)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--function", "-f", help="the function (name or qualified name)")
    which.add_argument("--step", type=int, help="a step of the call (e.g. its call event)")
    parser.add_argument("--nth", type=int, default=1, help="with --function: which call (1: the "
                        "first; -1: the last)")
    parser.add_argument("--thread", type=int, default=None, help="the recording's thread id")
    parser.add_argument("--arg", action="append", default=[], metavar="NAME=EXPRESSION",
                        help="a new value for an argument (repeatable)")
    parser.add_argument("--global", dest="globals", action="append", default=[],
                        metavar="NAME=EXPRESSION", help="a new value for a module global it reads")
    parser.add_argument("--source", metavar="FILE", help="new source for the function (a file "
                        "holding its def)")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, expression = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise SystemExit(f"devsandbox replay-call: {what} must be NAME=EXPRESSION: {item!r}")
        out[name.strip()] = expression.strip()
    return out


def _find(tl: Timeline, args: argparse.Namespace) -> tuple[int, int]:
    if args.step is not None:
        tid = args.thread or tl.thread_ids()[0]
        return tid, args.step
    codes = {i for i, c in enumerate(tl.rec.codes) if c is not None
             and args.function in (c.qualname, c.name)}
    if not codes:
        raise SystemExit(f"devsandbox replay-call: no function {args.function!r} in the recording")
    finder = navigate.call_finder(tl, codes)
    calls = [(ci, c) for ci in range(tl.nchunks) for c in sorted(finder(ci))]
    calls = [c for _ci, c in calls if args.thread is None or c[1] == args.thread]
    if not calls:
        raise SystemExit(f"devsandbox replay-call: {args.function} was never called")
    try:
        _order, tid, step, _what = calls[args.nth - 1 if args.nth > 0 else args.nth]
    except IndexError:
        raise SystemExit(f"devsandbox replay-call: {args.function} was called {len(calls)} "
                         "times") from None
    return tid, step


def run(args: argparse.Namespace) -> int:
    from ..dap.replaycall import run as run_call

    try:
        tl = Timeline(Recording(args.file))
    except (OSError, FormatError) as exc:
        print(f"devsandbox replay-call: {args.file}: {exc}", file=sys.stderr)
        return 1
    modifications: dict[str, Any] = {"arguments": _pairs(args.arg, "--arg"),
                                     "globals": _pairs(args.globals, "--global")}
    if args.source:
        with open(args.source, encoding="utf-8") as f:
            modifications["source"] = f.read()
    try:
        tid, step = _find(tl, args)
        call = rc.find_call(tl, tid, step)
        old = rc.frame_steps(tl, call)
        spec = rc.build_spec(tl, call, modifications)
        result = asyncio.run(run_call(tl, call, old, spec, set(modifications["arguments"]),
                                      args.timeout))
    except (rc.ReplayError, DevsandboxError, SyntaxError, IndexError) as exc:
        print(f"devsandbox replay-call: {exc}", file=sys.stderr)
        return 1
    finally:
        tl.rec.close()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(describe(result))
    return 0


def describe(result: dict[str, Any]) -> str:
    lines = [f"{result['function']} (call at step {result['callStep']:,} of {result['file']})"]
    div = result.get("divergence")
    if div is None:
        lines.append("no divergence: the replayed call ran as recorded")
    else:
        old, new = div.get("recorded"), div.get("replayed")
        if div["kind"] == "control flow":
            where = (f"line {old['line']} ({old['kind']}) when recorded, line {new['line']} "
                     f"({new['kind']}) when replayed" if old and new else
                     "one run ended before the other")
            lines.append(f"first divergence: control flow at its step {div['index']}: {where}")
        else:
            lines.append(f"first divergence: values at line {old['line']} (step {old['step']:,}):")
            for d in div["differences"]:
                lines.append(f"  {d['name']}: recorded {d['recorded']}, replayed {d['replayed']}")
    lines.append(f"recorded result: {_outcome(result['recordedResult'])}")
    lines.append(f"replayed result: {_outcome(result['replayedResult'])}")
    lines.append(f"replayed recording: {result['recording']}")
    return "\n".join(lines)


def _outcome(o: dict[str, Any]) -> str:
    if "exception" in o:
        return f"raised {o['exception']}"
    if "result" in o:
        return f"returned {o['result']}"
    return "did not finish in the recording"
