"""``devsandbox set PATH VALUE``: change a live value of a running program.

VALUE is JSON (``42``, ``'{"cpu": 2}'``, ``'"text"'``; anything that is not
JSON is taken as a string), or ``--expression`` Python source evaluated in
the program.  ``--merge deep`` / ``--merge partial`` merge an object into a
dict or an object's attributes instead of replacing the value.  The answer
names the change id that ``devsandbox rollback`` takes.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..live import cli

NAME = "set"
HELP = "change a live value of a running program (replace, deep merge or partial update)"
STRATEGIES = {"replace": "replace", "deep": "deep_merge", "partial": "partial_update"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="pkg.mod:NAME.attr[key][0], NAME or $N")
    parser.add_argument("value", nargs="?", help="the new value, as JSON")
    parser.add_argument("--expression", "-e", help="the new value as a Python expression")
    parser.add_argument("--merge", choices=sorted(STRATEGIES), default="replace",
                        help="replace (default), deep (deep_merge) or partial (partial_update)")
    parser.add_argument("--schema", action="store_true",
                        help="refuse a change of type or of the set of keys")
    cli.add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if (args.value is None) == (args.expression is None):
        import sys

        sys.stderr.write("devsandbox set: give a VALUE or --expression, not both\n")
        return 2
    params: dict[str, Any] = {"path": args.path, "strategy": STRATEGIES[args.merge],
                              "schema": args.schema}
    if args.expression is not None:
        params["expression"] = args.expression
    else:
        params["value"] = cli.json_value(args.value)

    async def body(target: cli.LiveTarget) -> Any:
        return await target.call("set", params)

    return cli.run(args, NAME, body, render)


def render(answer: dict[str, Any]) -> tuple[str, int]:
    return (f"{answer['path']}: {answer['old']} -> {answer['new']}\n"
            f"change {answer['change']} (devsandbox rollback {answer['change']})\n"), 0
