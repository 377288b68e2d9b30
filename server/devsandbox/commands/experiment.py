"""``devsandbox experiment``: run variant implementations of a function on real inputs and
compare them; canary a variant on a running program's live calls.

    devsandbox experiment run MODULE:QUALNAME --variant [NAME=]FILE ... \\
        (--recording FILE | --call "ARGS" ... | --capture N) [options]
    devsandbox experiment rerun ID [--refresh]
    devsandbox experiment list | show ID [--svg FILE] | delete ID
    devsandbox experiment capture MODULE:QUALNAME [--count N]          (a running program)
    devsandbox experiment canary start MODULE:QUALNAME [NAME=]FILE [--share 0.1] [--sticky]
    devsandbox experiment canary share ID SHARE | status [ID] | stop ID

Experiments are stored in ``.devsandbox/experiments/`` (``--dir`` chooses the
project directory).  Runs are offline by default (this interpreter, or
``--python``, imports the module fresh); ``--pid``, ``--session`` or
``--connect`` reach a running program for live captures, canaries and runs
against its live state (``--where program``).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import sys
from typing import Any, Self

from ..errors import DevsandboxError, InvalidRequest

NAME = "experiment"
HELP = "compare variant implementations of a function on recorded or live inputs; canaries"


def _program_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("a running program (captures, canaries, runs in it)")
    target = where.add_mutually_exclusive_group()
    target.add_argument("--pid", type=int, help="a running Python process (the agent is injected)")
    target.add_argument("--session", nargs="?", const="", metavar="ID",
                        help="a running devsandbox dap session (ID: its port or program)")
    target.add_argument("--connect", metavar="HOST:PORT",
                        help="an agent listening in the program (token in DEVSANDBOX_TOKEN)")
    where.add_argument("--client", default="cli:experiment",
                       help="the name the agent knows this client by")
    where.add_argument("--force", action="store_true",
                       help="run variant code the normal safety level would refuse")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", default=".", help="the project directory (experiments are "
                        "stored in DIR/.devsandbox/experiments; default: here)")
    parser.add_argument("--json", action="store_true", help="print the JSON answer")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="create and run an experiment")
    run.add_argument("target", help="MODULE:QUALNAME of the function (e.g. app.util:parse)")
    run.add_argument("--variant", action="append", default=[], metavar="[NAME=]FILE",
                     help="a file with the variant's source (repeatable; NAME: its file stem)")
    run.add_argument("--variant-code", action="append", default=[], metavar="NAME=CODE",
                     help="a variant's source given inline")
    inputs = run.add_mutually_exclusive_group()
    inputs.add_argument("--recording", help="use the recorded calls of this recording")
    inputs.add_argument("--call", action="append", default=[], metavar="ARGS",
                        help='one call\'s arguments as Python source: --call "3, [1, 2], key=\'x\'"')
    inputs.add_argument("--capture", type=int, metavar="N",
                        help="capture the next N calls in the running program")
    run.add_argument("--capture-timeout", type=float, default=30.0, metavar="S")
    run.add_argument("--limit", type=int, default=100, help="recorded calls used at most (100)")
    run.add_argument("--file", help="the target module's file (a script run as __main__)")
    run.add_argument("--name", help="a name for the experiment")
    run.add_argument("--mock", action="append", default=[], metavar="MODULE:QUALNAME=FILE|CODE",
                     help="replace a function during the run")
    run.add_argument("--stub", action="append", default=[], metavar="MODULE:QUALNAME=EXPR",
                     help="make a function return EXPR during the run")
    run.add_argument("--spy", action="append", default=[], metavar="MODULE:QUALNAME",
                     help="record a function's calls during the run")
    _settings(run)
    run.add_argument("--no-save", action="store_true", help="do not store the experiment")
    run.add_argument("--svg", help="also write the timing chart to this file")
    _program_arguments(run)
    _common(run)

    rerun = sub.add_parser("rerun", help="run a stored experiment again")
    rerun.add_argument("id")
    rerun.add_argument("--refresh", action="store_true",
                       help="read the recording (or capture) again instead of the stored inputs")
    rerun.add_argument("--svg", help="also write the timing chart to this file")
    _settings(rerun)
    _program_arguments(rerun)
    _common(rerun)

    listing = sub.add_parser("list", help="the stored experiments")
    _common(listing)
    show = sub.add_parser("show", help="a stored experiment and its last run")
    show.add_argument("id")
    show.add_argument("--svg", help="write the last run's timing chart to this file")
    _common(show)
    delete = sub.add_parser("delete", help="delete a stored experiment")
    delete.add_argument("id")
    _common(delete)

    capture = sub.add_parser("capture", help="capture the next N calls in a running program")
    capture.add_argument("target")
    capture.add_argument("--count", type=int, default=10)
    capture.add_argument("--timeout", type=float, default=30.0)
    _program_arguments(capture)
    _common(capture)

    canary = sub.add_parser("canary", help="route a share of live calls to a variant")
    csub = canary.add_subparsers(dest="canary_action", metavar="ACTION", required=True)
    start = csub.add_parser("start", help="start a canary")
    start.add_argument("target")
    start.add_argument("variant", metavar="[NAME=]FILE")
    start.add_argument("--share", type=float, default=0.1, help="share of calls (0.1)")
    start.add_argument("--sticky", action="store_true",
                       help="route by a hash of the arguments (same arguments, same route)")
    start.add_argument("--threshold", type=float, default=0.05,
                       help="roll back when the variant's error rate exceeds the baseline's by "
                       "more than this (0.05)")
    start.add_argument("--min-calls", type=int, default=20,
                       help="variant calls before a rollback is considered (20)")
    share = csub.add_parser("share", help="change a canary's share")
    share.add_argument("id")
    share.add_argument("share", type=float)
    status = csub.add_parser("status", help="a canary's counts, error rates and latencies")
    status.add_argument("id", nargs="?")
    stop = csub.add_parser("stop", help="stop a canary (the original function is put back)")
    stop.add_argument("id")
    for p in (start, share, status, stop):
        _program_arguments(p)
        _common(p)


def _settings(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("measuring")
    group.add_argument("--repeat", type=int, help="timing rounds (30)")
    group.add_argument("--budget", type=float, help="seconds of timing per variant (10)")
    group.add_argument("--in-process", action="store_true",
                       help="measure in one process instead of a worker process per variant")
    group.add_argument("--timeout", type=float, help="seconds per worker process (120)")
    group.add_argument("--call-timeout", type=float, help="seconds per call (10)")
    group.add_argument("--cpu-seconds", type=int, help="CPU limit per worker process (120)")
    group.add_argument("--memory-mb", type=int, help="address-space limit per worker (2048)")
    group.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    group.add_argument("--where", choices=["auto", "offline", "program"],
                       help="run offline or in the running program (auto)")
    group.add_argument("--python", help="the interpreter for offline runs (this one)")


def _settings_from(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for attr, key in (("repeat", "repeat"), ("budget", "budget"), ("timeout", "timeout"),
                      ("call_timeout", "callTimeout"), ("cpu_seconds", "cpuSeconds"),
                      ("memory_mb", "memoryMb"), ("where", "where"), ("python", "python")):
        value = getattr(args, attr, None)
        if value is not None:
            settings[key] = value
    if getattr(args, "in_process", False):
        settings["isolation"] = "inprocess"
    if getattr(args, "no_memory", False):
        settings["memory"] = False
    if getattr(args, "force", False):
        settings["force"] = True
    return settings


# -- building a request ---------------------------------------------------------------------------


def _named_source(text: str, what: str) -> tuple[str, str]:
    """``NAME=FILE`` or ``FILE`` -> (name, source read from the file)."""
    name, sep, path = text.partition("=")
    if not sep or os.path.isfile(text):
        name, path = "", text
    if not os.path.isfile(path):
        raise InvalidRequest(f"{what}: no file {path!r}")
    with open(path, encoding="utf-8") as f:
        source = f.read()
    return name or os.path.splitext(os.path.basename(path))[0], source


def call_arguments(text: str) -> dict[str, Any]:
    """``"3, [1, 2], key='x'"`` -> {"args": ["3", "[1, 2]"], "kwargs": {"key": "'x'"}}."""
    try:
        node = ast.parse(f"_({text})", mode="eval").body
    except SyntaxError as exc:
        raise InvalidRequest(f"--call {text!r}: {exc.msg}") from None
    assert isinstance(node, ast.Call)
    if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None
                                                                  for k in node.keywords):
        raise InvalidRequest(f"--call {text!r}: *args and **kwargs are not supported")
    return {"args": [ast.unparse(a) for a in node.args],
            "kwargs": {str(k.arg): ast.unparse(k.value) for k in node.keywords}}


def _injections(args: argparse.Namespace) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for text in args.mock:
        target, sep, rest = text.partition("=")
        if not sep:
            raise InvalidRequest(f"--mock {text!r}: give MODULE:QUALNAME=FILE or =CODE")
        source = rest
        if os.path.isfile(rest):
            with open(rest, encoding="utf-8") as f:
                source = f.read()
        out.append({"kind": "mock", "target": target, "source": source})
    for text in args.stub:
        target, sep, value = text.partition("=")
        if not sep:
            raise InvalidRequest(f"--stub {text!r}: give MODULE:QUALNAME=EXPR")
        out.append({"kind": "stub", "target": target, "value": value})
    out += [{"kind": "spy", "target": target} for target in args.spy]
    return out


def run_request(args: argparse.Namespace) -> dict[str, Any]:
    variants = [dict(zip(("name", "source"), _named_source(v, "--variant")))
                for v in args.variant]
    for text in args.variant_code:
        name, sep, code = text.partition("=")
        if not sep:
            raise InvalidRequest(f"--variant-code {text!r}: give NAME=CODE")
        variants.append({"name": name, "source": code})
    if not variants:
        raise InvalidRequest("give at least one --variant")
    inputs: dict[str, Any]
    if args.capture:
        inputs = {"kind": "live", "count": args.capture, "timeout": args.capture_timeout}
    elif args.call:
        inputs = {"kind": "explicit", "calls": [call_arguments(c) for c in args.call]}
    elif args.recording:
        inputs = {"kind": "recording", "recording": os.path.abspath(args.recording),
                  "limit": args.limit}
    else:
        raise InvalidRequest("give the inputs: --recording FILE, --call ARGS or --capture N")
    request: dict[str, Any] = {"target": args.target, "variants": variants, "inputs": inputs,
                               "injections": _injections(args), "settings": _settings_from(args),
                               "save": not args.no_save}
    if args.name:
        request["name"] = args.name
    if args.file:
        request["file"] = os.path.abspath(args.file)
    return request


# -- reaching a running program ------------------------------------------------------------------


class Program:
    """The agent of a running program, if the command line names one."""

    def __init__(self, args: argparse.Namespace) -> None:
        from ..live.target import ProgramLink

        self.args = args
        session = getattr(args, "session", None)
        self.link = ProgramLink(pid=getattr(args, "pid", None),
                                connect=getattr(args, "connect", None), session=session)

    @property
    def wanted(self) -> bool:
        a = self.args
        return getattr(a, "pid", None) is not None or bool(getattr(a, "connect", None)) or \
            getattr(a, "session", None) is not None

    async def __aenter__(self) -> Self:
        await self.link.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.link.__aexit__(*exc)

    async def call(self, verb: str, params: dict[str, Any], timeout: float) -> Any:
        from devsandbox.agent import wire

        params = dict(params, client=self.args.client)
        if getattr(self.args, "force", False):
            params["force"] = True
        return await self.link.call(wire.EXPERIMENT_PREFIX, verb, params, timeout)


# -- actions ----------------------------------------------------------------------------------


async def _run(args: argparse.Namespace, request: dict[str, Any]) -> dict[str, Any]:
    from ..experiments import service
    from ..experiments.store import Store

    store = Store(args.dir)
    async with Program(args) as program:
        call = program.call if program.wanted else None
        return await service.run(store, request, agent_call=call, cwd=str(store.root))


def _write_svg(path: str | None, svg_text: str | None) -> None:
    if path and svg_text is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(svg_text)


async def _act(args: argparse.Namespace) -> tuple[Any, str]:
    from ..experiments import report, service
    from ..experiments.store import Store

    store = Store(args.dir)
    action = args.action
    if action == "run":
        answer = await _run(args, dict(run_request(args), svg=bool(args.svg)))
        _write_svg(args.svg, answer.pop("svg", None))
        return answer, answer["text"] + (f"Stored as {answer['id']} ({answer['path']})\n"
                                         if answer.get("path") else "")
    if action == "rerun":
        request: dict[str, Any] = {"id": args.id, "refresh": args.refresh,
                                   "settings": _settings_from(args), "svg": bool(args.svg)}
        answer = await _run(args, request)
        _write_svg(args.svg, answer.pop("svg", None))
        return answer, answer["text"]
    if action == "list":
        answer = service.list_experiments(store)
        lines = [f"{e['id']}  {e['target']}  variants: {', '.join(e['variants'])}  "
                 f"inputs: {e['inputs']}  runs: {e['runs']}  winner: {e['winner'] or '—'}"
                 for e in answer["experiments"]]
        return answer, "\n".join(lines) + "\n" if lines else f"no experiments in {store.directory}\n"
    if action == "show":
        answer = service.get(store, args.id)
        runs = answer["experiment"].get("runs") or []
        if args.svg and runs:
            _write_svg(args.svg, report.svg(runs[-1]))
        exp = answer["experiment"]
        head = (f"{exp['id']}: {exp['target']} ({exp['name']}), variants "
                f"{', '.join(v['name'] for v in exp['variants'])}, "
                f"{len(exp['inputs'].get('calls') or [])} inputs ({exp['inputs'].get('kind')})\n")
        return answer, head + (answer.get("text") or "never run\n")
    if action == "delete":
        answer = service.delete(store, args.id)
        return answer, f"deleted {args.id}\n"
    async with Program(args) as program:
        if not program.wanted:
            raise InvalidRequest("name the running program: --pid N, --session or --connect")
        if action == "capture":
            answer = await program.call("capture", {"target": args.target, "count": args.count,
                                                    "timeout": args.timeout}, args.timeout + 30)
            lines = [f"{c['id']}: ({c['repr']})" + (f"  [{c['note']}]" if c.get("note") else "")
                     for c in answer.get("inputs") or []]
            return answer, "\n".join(lines) + (f"\n{answer['count']} of {answer['wanted']} calls "
                                               f"in {answer['seconds']} s\n")
        return await _canary(args, program)


async def _canary(args: argparse.Namespace, program: Program) -> tuple[Any, str]:
    what = args.canary_action
    if what == "start":
        name, source = _named_source(args.variant, "canary variant")
        answer = await program.call("canaryStart", {
            "target": args.target, "variant": {"name": name, "source": source},
            "share": args.share, "sticky": args.sticky, "threshold": args.threshold,
            "minCalls": args.min_calls}, 30)
    elif what == "share":
        answer = await program.call("canarySetShare", {"id": args.id, "share": args.share}, 30)
    elif what == "status":
        answer = await program.call("canaryStatus", {"id": args.id} if args.id else {}, 30)
    else:
        answer = await program.call("canaryStop", {"id": args.id}, 30)
    canaries = answer.get("canaries") if "canaries" in answer else [answer]
    return answer, "".join(canary_text(c) for c in canaries) or "no canaries\n"


def canary_text(c: dict[str, Any]) -> str:
    from ..experiments.report import duration

    lines = [(f"{c.get('id')}: {c.get('target')} -> {c.get('variant')} {c.get('state')}, share "
             f"{c.get('share', 0):.0%}{' (sticky)' if c.get('sticky') else ''}, observed "
             f"{c.get('observedShare', 0):.1%} of {c.get('calls', 0)} calls")]
    for route in ("baseline", "variant"):
        r = (c.get("routes") or {}).get(route) or {}
        lat = r.get("latencyNs") or {}
        lines.append(f"  {route:8}  {r.get('calls', 0)} calls, {r.get('errors', 0)} errors "
                     f"({r.get('errorRate', 0):.1%}), median {duration(lat.get('median'))}, "
                     f"p95 {duration(lat.get('p95'))}")
    latency = c.get("latency") or {}
    if latency:
        lines.append(f"  latency: {latency.get('verdict')} (ratio {latency.get('ratio', 0):.3f},"
                     f" p={latency.get('p', 1):.2g})")
    if c.get("reason"):
        lines.append(f"  {c['reason']}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    try:
        answer, text = asyncio.run(_act(args))
    except DevsandboxError as exc:
        sys.stderr.write(f"devsandbox experiment: {exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"devsandbox experiment: {exc}\n")
        return 1
    if args.json:
        json.dump(answer, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text)
    if args.action in ("run", "rerun") and answer.get("report", {}).get("status") != "ok":
        return 1
    return 0
