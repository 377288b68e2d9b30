"""``devsandbox lsp``: the language server over stdio (hover, inline values, code lenses,
diagnostics and commands from the workspace's debug sessions and recordings)."""

from __future__ import annotations

import argparse
import os
import sys

NAME = "lsp"
HELP = "run the language server over stdio (runs beside your main Python language server)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stdio", action="store_true",
                        help="serve over stdin/stdout (the default; accepted for editors that "
                        "pass it)")


def _take_stdio() -> tuple[int, int]:
    """Keep the real stdin/stdout for the protocol; anything else written to fd 1 goes to
    stderr and reads from fd 0 get end of file."""
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    sys.stdin = open(os.devnull)  # noqa: SIM115  (for the life of the process)
    sys.stdout = sys.stderr
    return in_fd, out_fd


def run(args: argparse.Namespace) -> int:
    from ..lsp.server import create_server

    in_fd, out_fd = _take_stdio()
    server = create_server()
    server.start_io(os.fdopen(in_fd, "rb"), os.fdopen(out_fd, "wb"))
    return 0
