"""What the live commands (``devsandbox inspect|set|call|eval|reload|rollback|audit``) share.

A command reaches the program in one of three ways:

- ``--pid N``: the agent is injected into process N (gdb, or ``sys.remote_exec``
  on 3.14+) and connects back to this command;
- ``--session [ID]``: through a running ``devsandbox dap`` session's control
  endpoint (registered, with its token, in the per-user runtime directory);
  ID picks one session by port or program when several run; without
  ``--pid``/``--connect`` the only session (or the one whose workspace holds
  the current directory) is used;
- ``--connect HOST:PORT``: an agent listening in the program (embedded mode),
  token in ``DEVSANDBOX_TOKEN``.

The agent knows the command line as the client ``cli:<user>`` (``--client``
changes it): its evaluation namespace and safety level persist between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable
from typing import Any, Self

from ..errors import DevsandboxError, InvalidRequest
from .target import ProgramLink

LEVELS = ("strict", "normal", "permissive")


def add_target_arguments(parser: argparse.ArgumentParser, *, force: bool = True) -> None:
    where = parser.add_argument_group("which program")
    target = where.add_mutually_exclusive_group()
    target.add_argument("--pid", type=int, help="a running Python process (the agent is injected)")
    target.add_argument("--session", nargs="?", const="", metavar="ID",
                        help="a running devsandbox dap session (ID: its port or program, when "
                             "several run); the default when no --pid/--connect is given")
    target.add_argument("--connect", metavar="HOST:PORT",
                        help="an agent listening in the program (token in DEVSANDBOX_TOKEN)")
    where.add_argument("--timeout", type=float, default=30.0,
                       help="seconds to wait for the injection and the answer (30)")
    where.add_argument("--client", default=f"cli:{_user()}",
                       help="the name the agent knows this client by (cli:<user>)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    if force:
        parser.add_argument("--force", action="store_true",
                            help="run code the normal safety level would refuse as high-risk")
        parser.add_argument("--safety", choices=LEVELS,
                            help="set this client's safety level first (kept by the program)")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


class LiveTarget:
    """An open way to the program's agent; ``await target.call(verb, params)``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.link = ProgramLink(pid=args.pid, connect=args.connect,
                                session=args.session or "", timeout=args.timeout)

    async def __aenter__(self) -> Self:
        await self.link.__aenter__()
        if getattr(self.args, "safety", None):
            await self.call("setSafety", {"level": self.args.safety})
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.link.__aexit__(*exc)

    @property
    def pid(self) -> int | None:
        return self.link.pid

    async def call(self, verb: str, params: dict[str, Any]) -> Any:
        params = dict(params, client=self.args.client)
        if getattr(self.args, "force", False):
            params["force"] = True
        wait = self.args.timeout + float(params.get("timeout") or 0) + 5
        from devsandbox.agent import wire

        return await self.link.call(wire.LIVE_PREFIX, verb, params, wait)


def pick_session(wanted: str) -> dict[str, Any]:
    from .. import runtime

    sessions = runtime.sessions()
    if not sessions:
        raise InvalidRequest("no devsandbox dap session is running (or give --pid N)")
    if wanted:
        chosen = [s for s in sessions if str(s.get("port")) == wanted or
                  wanted in str(s.get("program") or "")]
    elif len(sessions) == 1:
        chosen = sessions
    else:
        here = os.path.realpath(os.getcwd())
        chosen = [s for s in sessions if any(
            here == os.path.realpath(r) or here.startswith(os.path.realpath(r) + os.sep)
            for r in s.get("roots") or [])]
    if len(chosen) != 1:
        listed = "; ".join(f"port {s.get('port')}: {s.get('program')}" for s in sessions)
        raise InvalidRequest(f"{len(chosen) or 'no'} matching sessions; pick one with "
                             f"--session PORT ({listed})")
    return chosen[0]


def run(args: argparse.Namespace, name: str,
        body: Callable[[LiveTarget], Any], render: Callable[[Any], tuple[str, int]]) -> int:
    """Open the target, ``await body(target)``, print the answer; the exit status."""

    async def main() -> Any:
        async with LiveTarget(args) as target:
            return await body(target)

    try:
        answer = asyncio.run(main())
    except DevsandboxError as exc:
        sys.stderr.write(f"devsandbox {name}: {exc}\n")
        return 1
    if args.json:
        json.dump(answer, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    text, status = render(answer)
    sys.stdout.write(text)
    sys.stdout.flush()
    return status


def json_value(text: str) -> Any:
    """A value given on the command line: JSON, or else the plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def render_run(answer: dict[str, Any]) -> tuple[str, int]:
    """Output, then the value or the error, of a call or an evaluation."""
    lines = []
    if answer.get("stdout"):
        lines.append(answer["stdout"].rstrip("\n"))
    if answer.get("stderr"):
        lines.append("[stderr] " + answer["stderr"].rstrip("\n").replace("\n", "\n[stderr] "))
    status = answer.get("status")
    if status == "ok":
        if "value" in answer:
            lines.append(str(answer["value"]))
    elif status == "timeout":
        stopped = "stopped" if answer.get("stopped") else "still running"
        lines.append(f"timed out after {answer.get('duration')} s ({stopped})")
    else:
        error = answer.get("error") or {}
        for frame in error.get("traceback") or []:
            lines.append(f"  at {frame}")
        where = f" (line {error['line']})" if error.get("line") else ""
        lines.append(f"{error.get('type')}: {error.get('message')}{where}")
    for finding in (answer.get("scan") or {}).get("findings") or []:
        lines.append(f"warning: line {finding['line']}: {finding['code']} {finding['message']} "
                     f"({finding['severity']})")
    if answer.get("note"):
        lines.append(f"note: {answer['note']}")
    return "\n".join(lines) + "\n", 0 if status == "ok" else 1
