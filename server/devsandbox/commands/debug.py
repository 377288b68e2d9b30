"""``devsandbox debug``: debug a program in the terminal, pdb-style, through ``devsandbox dap``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import IO, Any

from ..errors import DevsandboxError
from ..term import render
from ..term.breakpoints import parse_cli
from ..term.console import Debugger, Terminal
from ..term.session import DebugSession
from ..term.target import Target

NAME = "debug"
HELP = "debug a program in the terminal (pdb-like commands, through the DAP server)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = "devsandbox debug [OPTIONS] (PROGRAM | -m MODULE) [ARGS ...]"
    parser.add_argument("-m", dest="as_module", action="store_true",
                        help="the first argument names a module to run, as with python -m")
    parser.add_argument("--cwd", default=".", help="the program's working directory")
    parser.add_argument("--python", help="the interpreter to run the program with "
                        "(default: this one)")
    parser.add_argument("-b", "--break", dest="breaks", action="append", default=[],
                        metavar="FILE:LINE[:CONDITION]", help="set a breakpoint before starting "
                        "(repeatable)")
    parser.add_argument("--stop-on-entry", action=argparse.BooleanOptionalAction, default=True,
                        help="stop at the program's first line (default: yes, like pdb)")
    parser.add_argument("--all-code", action="store_true",
                        help="step into and stop in library code too (justMyCode off)")
    parser.add_argument("--no-agent", action="store_true",
                        help="plain debugpy: do not start the DevSandbox agent in the program")
    parser.add_argument("--record", action="store_true",
                        help="record the run for time travel (devsandbox.record)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour output (auto: on a terminal, unless NO_COLOR is set)")
    parser.add_argument("target", nargs=argparse.REMAINDER, metavar="PROGRAM [ARGS]",
                        help="the program (or with -m the module) and its arguments")


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    style = render.Style(render.colour_wanted(out, args.color))
    if not args.target:
        sys.stderr.write("devsandbox debug: give a PROGRAM or -m MODULE\n")
        return 2
    name, program_args = args.target[0], list(args.target[1:])
    target = Target(args=program_args, cwd=args.cwd, python=args.python,
                    stop_on_entry=args.stop_on_entry, just_my_code=not args.all_code)
    if args.as_module:
        target.module = name
    elif not os.path.isfile(name):
        sys.stderr.write(f"devsandbox debug: no such file: {name}\n")
        return 2
    else:
        target.program = name
    if args.no_agent:
        target.devsandbox["agent"] = False
    if args.record:
        target.devsandbox["record"] = True
    if not os.path.isdir(args.cwd):
        sys.stderr.write(f"devsandbox debug: no such directory: {args.cwd}\n")
        return 2

    return drive(target, args.breaks, out, style)


def drive(target: Any, breaks: list[str], out: IO[str], style: render.Style,
          *, program_exit_code: bool = True) -> int:
    """Run the interactive debugger on ``target`` through `devsandbox dap`.

    Returns the program's exit code (or 0 without ``program_exit_code``), 1 if the session
    could not be run; then the tail of the server's log is shown.
    """
    terminal = Terminal(out, style, interactive=sys.stdin.isatty() and out.isatty())
    with tempfile.TemporaryFile("w+b") as server_stderr:
        session = DebugSession(
            target, on_output=terminal.program_output,
            on_notice=lambda text: terminal.write(render.notice(text, style)),
            server_stderr=server_stderr)
        try:
            for spec in breaks:
                session.add_breakpoint(parse_cli(spec))
            code = Debugger(session, terminal).run()
            return code if program_exit_code else 0
        except DevsandboxError as exc:
            terminal.write(render.error(str(exc), style))
            _show_server_log(server_stderr, terminal)
            return 1
        finally:
            session.close()


def _show_server_log(log: IO[bytes], terminal: Terminal) -> None:
    """After a failure, the tail of what the DAP server wrote to stderr helps."""
    try:
        log.seek(0)
        lines = log.read().decode("utf-8", "replace").splitlines()[-20:]
    except OSError:
        return
    if lines:
        terminal.write(render.notice("DAP server stderr:\n  " + "\n  ".join(lines), terminal.style))
