"""The ``devsandbox`` command line: one module per subcommand under ``commands/``."""

from __future__ import annotations

import argparse
import importlib
import sys

import devsandbox

from . import log

# Each module defines NAME, HELP, add_arguments(parser) and run(args) -> int.
COMMAND_MODULES = [
    "dap",
    "lsp",
    "record",
    "export",
    "info",
    "debug",
    "replay",  # time travel in the terminal (term/timetravel.py)
    "replay_call",  # modify and replay one recorded call (recording/replaycall.py)
    "discover",
    "demo",
    "inspect",  # live state (server/devsandbox/live/cli.py): inspect, set, call, eval, reload,
    "set",  # rollback, audit
    "call",
    "eval",
    "reload",
    "rollback",
    "audit",
    "experiment",  # experiments and canaries (server/devsandbox/experiments/)
]


def _requested(argv: list[str]) -> str | None:
    """The subcommand named on the command line, if any (before parsing)."""
    args = iter(argv)
    for arg in args:
        if arg in ("--log-file", "--log-level"):
            next(args, None)
        elif not arg.startswith("-"):
            return arg.replace("-", "_")
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that subcommand's module is imported (fast start-up)."""
    parser = argparse.ArgumentParser(
        prog="devsandbox",
        description="Explore a Python program's past and present: a DAP and LSP server over debugpy.",
    )
    parser.add_argument("--version", action="version", version=f"devsandbox {devsandbox.__version__}")
    parser.add_argument("--log-file", help="write the server log to this file (never stdout)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING (default) or ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if only not in COMMAND_MODULES:
        only = None
    for name in COMMAND_MODULES:
        if only is not None and name != only:
            sub.add_parser(name.replace("_", "-"))  # listed, not loaded
            continue
        module = importlib.import_module(f"devsandbox.commands.{name}")
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_requested(argv))
    args = parser.parse_args(argv)
    log.setup(args.log_file, args.log_level)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130
