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
    "discover",
    "demo",
    "inspect",  # live state (server/devsandbox/live/cli.py): inspect, set, call, eval, reload,
    "set",  # rollback, audit
    "call",
    "eval",
    "reload",
    "rollback",
    "audit",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="devsandbox",
        description="Explore a Python program's past and present: a DAP and LSP server over debugpy.",
    )
    parser.add_argument("--version", action="version", version=f"devsandbox {devsandbox.__version__}")
    parser.add_argument("--log-file", help="write the server log to this file (never stdout)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING (default) or ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"devsandbox.commands.{name}")
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log.setup(args.log_file, args.log_level)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130
