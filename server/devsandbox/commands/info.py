"""``devsandbox info``: metadata and statistics of a recording."""

from __future__ import annotations

import argparse
import json
import sys

from ..recording.info import format_text, summarize
from ..recording.reader import FormatError, Recording

NAME = "info"
HELP = "show a recording's metadata and statistics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the recording")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--top", type=int, default=20, help="files and functions listed")


def run(args: argparse.Namespace) -> int:
    try:
        with Recording(args.file) as rec:
            info = summarize(rec, args.top)
    except (OSError, FormatError) as exc:
        print(f"devsandbox info: {args.file}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(info, indent=2, default=str) if args.json else format_text(info))
    return 0
