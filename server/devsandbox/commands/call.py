"""``devsandbox call TARGET [ARG ...]``: call a function of a running program.

TARGET is a path to a callable (``pkg.mod:func``, ``NAME.method``, ``$N.method``).
Each ARG is JSON (anything else is a string); ``--arguments`` gives Python
source instead (``"1, key=[2, 3]"``).  Coroutine functions run in the program's
asyncio loop.  Output printed by the call is shown; ``--timeout`` stops it.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..live import cli

NAME = "call"
HELP = "call a function in a running program (a worker thread or its asyncio loop)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="path to the callable: pkg.mod:func, NAME.method, $N.m")
    parser.add_argument("args", nargs="*", help="arguments, as JSON")
    parser.add_argument("--arguments", "-a", help="the arguments as Python source")
    parser.add_argument("--call-timeout", type=float, default=10.0,
                        help="seconds the call may run (10)")
    cli.add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"target": args.target, "args": [cli.json_value(a) for a in args.args],
                              "timeout": args.call_timeout}
    if args.arguments:
        params["arguments"] = args.arguments

    async def body(target: cli.LiveTarget) -> Any:
        return await target.call("call", params)

    return cli.run(args, NAME, body, cli.render_run)
