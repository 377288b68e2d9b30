"""``devsandbox inspect PATH``: a live object of a running program, without pausing it.

PATH is ``pkg.mod:NAME.attr[key][0]`` (``NAME…`` alone: a global of ``__main__``;
``$N``: a handle printed by an earlier inspect or ``--find``).  ``--find CLASS``
lists the instances of a class (``pkg.mod:Class`` or a class name).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..live import cli

NAME = "inspect"
HELP = "show a live value of a running program (module globals, attributes, items, instances)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="pkg.mod:NAME.attr[key][0], NAME or $N")
    parser.add_argument("--find", metavar="CLASS", help="list the instances of a class instead")
    parser.add_argument("--start", type=int, default=0, help="first item shown (0)")
    parser.add_argument("--count", type=int, default=50, help="items shown (50)")
    parser.add_argument("--filter", help="only members whose name contains this text")
    parser.add_argument("--where", metavar="LAMBDA",
                        help="only members for which (lambda key, value: ...) is true")
    cli.add_target_arguments(parser, force=False)


def run(args: argparse.Namespace) -> int:
    if not args.path and not args.find:
        args.path = None
        import sys

        sys.stderr.write("devsandbox inspect: give a PATH or --find CLASS\n")
        return 2

    async def body(target: cli.LiveTarget) -> Any:
        page = {"start": args.start, "count": args.count}
        if args.find:
            return await target.call("find", dict(page, type=args.find))
        params: dict[str, Any] = dict(page, path=args.path)
        if args.filter:
            params["filter"] = args.filter
        if args.where:
            params["where"] = args.where
        return await target.call("inspect", params)

    return cli.run(args, NAME, body, render)


def render(answer: dict[str, Any]) -> tuple[str, int]:
    lines = []
    if "items" in answer:  # --find
        partial = "" if answer.get("complete") else " (search stopped early)"
        lines.append(f"{answer['total']} instance(s) of {answer['type']}{partial}")
        for item in answer["items"]:
            lines.append(f"  {item['path']}  {item['repr']}")
    else:
        size = f" of {answer['size']}" if answer.get("size") is not None else ""
        lines.append(f"{answer['path']}: {answer['type']}{size}")
        lines.append(f"  {answer['repr']}")
        for child in answer.get("children") or []:
            path = f"  [{child['path']}]" if child.get("path", "").startswith("$") else ""
            lines.append(f"    {child['name']}: {child['type']} = {child['repr']}{path}")
        shown = answer.get("start", 0) + len(answer.get("children") or [])
        if answer.get("more"):
            lines.append(f"    … {answer['total'] - shown} more (--start {shown})")
    return "\n".join(lines) + "\n", 0
