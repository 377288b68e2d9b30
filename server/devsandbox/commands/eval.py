"""``devsandbox eval CODE``: run Python code inside a running program.

CODE may hold several statements; the value of a last expression is printed.
``-`` reads the code from standard input.  Names you define stay for your next
``devsandbox eval`` (one namespace per client); ``--module M`` runs the code in
module M's globals instead.  The code first passes the safety check (see
``--safety`` and ``--force``); ``--eval-timeout`` stops code that runs too long.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..live import cli

NAME = "eval"
HELP = "evaluate Python code in a running program (persistent namespace, timeout, safety check)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code", help="the code ('-': read it from standard input)")
    parser.add_argument("--module", "-m", help="run in this module's globals")
    parser.add_argument("--eval-timeout", type=float, default=10.0,
                        help="seconds the code may run (10)")
    parser.add_argument("--scan", action="store_true",
                        help="only show what the safety check finds and decides; run nothing")
    cli.add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    code = sys.stdin.read() if args.code == "-" else args.code
    params: dict[str, Any] = {"code": code, "timeout": args.eval_timeout}
    if args.module:
        params["module"] = args.module

    async def body(target: cli.LiveTarget) -> Any:
        return await target.call("scan" if args.scan else "eval", params)

    return cli.run(args, NAME, body, render_scan if args.scan else cli.render_run)


def render_scan(answer: dict[str, Any]) -> tuple[str, int]:
    verdict = "allowed" if answer.get("allowed") else f"refused: {answer.get('reason')}"
    lines = [f"risk {answer.get('risk')} at the {answer.get('level')} level: {verdict}"]
    for f in answer.get("findings") or []:
        lines.append(f"  line {f['line']}: {f['code']} {f['message']} ({f['severity']}, {f['rule']})")
    return "\n".join(lines) + "\n", 0 if answer.get("allowed") else 1
