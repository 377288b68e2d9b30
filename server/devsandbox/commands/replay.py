"""``devsandbox replay FILE``: explore a recording in the terminal, backwards and forwards."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

from ..term import render
from ..term.target import Target
from .debug import drive

NAME = "replay"
HELP = ("replay a recording in the terminal: step and continue both ways (back, rnext, rstep, "
        "rfinish, rcontinue), history, lastwrite")


@dataclass
class ReplayTarget(Target):
    """A recording instead of a program: the launch replays it (no program runs)."""

    recording: str = ""

    def launch_config(self) -> dict[str, Any]:
        return {"name": "devsandbox replay", "type": "devsandbox", "request": "launch",
                "devsandbox": {"replay": os.path.abspath(self.recording)}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the recording (.dsrec)")
    parser.add_argument("-b", "--break", dest="breaks", action="append", default=[],
                        metavar="FILE:LINE[:CONDITION]", help="set a breakpoint (repeatable)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour output (auto: on a terminal, unless NO_COLOR is set)")


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    style = render.Style(render.colour_wanted(out, args.color))
    if not os.path.isfile(args.file):
        sys.stderr.write(f"devsandbox replay: no such file: {args.file}\n")
        return 2
    target = ReplayTarget(recording=args.file, stop_on_entry=False)
    return drive(target, args.breaks, out, style, program_exit_code=False)
