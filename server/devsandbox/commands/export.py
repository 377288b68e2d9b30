"""``devsandbox export``: a recording as JSON lines, one object per event."""

from __future__ import annotations

import argparse
import sys

from ..recording.export import write_jsonl
from ..recording.reader import FormatError, Recording

NAME = "export"
HELP = "export a recording (.dsrec) as JSON lines, one event per line"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the recording")
    parser.add_argument("--format", choices=["jsonl"], default="jsonl")
    parser.add_argument("--out", "-o", help="write here instead of stdout")
    parser.add_argument("--marks", action="store_true",
                        help="include explicit events (setVariable, goto) as kind 'mark'")


def run(args: argparse.Namespace) -> int:
    try:
        rec = Recording(args.file)
    except (OSError, FormatError) as exc:
        print(f"devsandbox export: {args.file}: {exc}", file=sys.stderr)
        return 1
    with rec:
        out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
        try:
            write_jsonl(rec, out, args.marks)
        except FormatError as exc:
            print(f"devsandbox export: {args.file}: {exc}", file=sys.stderr)
            return 1
        finally:
            if args.out:
                out.close()
        if not rec.complete:
            print(f"devsandbox export: {args.file}: incomplete recording: "
                  f"{rec.end.get('reason')} (at byte {rec.end.get('offset')})", file=sys.stderr)
    return 0
