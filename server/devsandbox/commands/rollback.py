"""``devsandbox rollback CHANGE``: undo a change made by ``devsandbox set`` (or a DAP client).

``--list`` shows the changes the program remembers.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..live import cli

NAME = "rollback"
HELP = "undo a live change by its change id"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("change", nargs="?", help="the change id (printed by devsandbox set)")
    parser.add_argument("--list", action="store_true", help="list the changes instead")
    cli.add_target_arguments(parser, force=False)


def run(args: argparse.Namespace) -> int:
    async def body(target: cli.LiveTarget) -> Any:
        if args.list or not args.change:
            return await target.call("changes", {})
        return await target.call("rollback", {"change": args.change})

    return cli.run(args, NAME, body, render)


def render(answer: dict[str, Any]) -> tuple[str, int]:
    if "changes" in answer:
        lines = [f"{c['change']}  {c['action']:<9} {c['path']}: {c['old']} -> {c['new']}"
                 + (f"  (rolled back by {c['rolledBack']})" if c.get("rolledBack") else "")
                 for c in answer["changes"]]
        return "\n".join(lines or ["no changes"]) + "\n", 0
    return (f"rolled back {answer['rolledBack']}: {answer['path']}: {answer['old']} -> "
            f"{answer['new']} (change {answer['change']})\n"), 0
