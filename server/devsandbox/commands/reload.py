"""``devsandbox reload FILE``: hot-reload a source file into a running program.

The functions and methods that changed get their new code in place (existing
objects and references see it), new functions and classes are added, state is
kept; ``--update-constants`` also assigns the module's top-level constants.
A file with a syntax error changes nothing.  ``--watch DIR`` keeps watching and
reloads every saved file the program has loaded, until Ctrl-C.
``--revert VERSION`` undoes a reload; ``--list`` shows them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from ..dap.live import describe_reload
from ..errors import DevsandboxError, InvalidRequest
from ..live import cli

NAME = "reload"
HELP = "hot-reload changed source files into a running program (versioned, revertible)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", help="source files of the program to reload")
    parser.add_argument("--module", help="the module to reload (default: the one loaded from FILE)")
    parser.add_argument("--update-constants", action="store_true",
                        help="also assign the module's top-level constants")
    parser.add_argument("--watch", nargs="*", metavar="DIR",
                        help="watch directories (default: the current one) and reload on save")
    parser.add_argument("--revert", metavar="VERSION", help="undo a reload (and the later ones)")
    parser.add_argument("--list", action="store_true", help="list the reloads")
    cli.add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.watch is not None:
        return _watch(args)

    async def body(target: cli.LiveTarget) -> Any:
        if args.list:
            return await target.call("reloads", {})
        if args.revert:
            return await target.call("revertReload", {"version": args.revert})
        if not args.files and not args.module:
            raise InvalidRequest("give FILE(s), --module, --watch, --revert or --list")
        reports = []
        for path in args.files or [None]:
            params: dict[str, Any] = {"updateConstants": args.update_constants}
            if path is not None:
                params["file"] = os.path.abspath(path)
                params["source"] = await asyncio.to_thread(Path(path).read_text, "utf-8")
            if args.module:
                params["module"] = args.module
            reports.append(await target.call("hotReload", params))
        return {"reports": reports}

    return cli.run(args, NAME, body, render)


def render(answer: dict[str, Any]) -> tuple[str, int]:
    if "reloads" in answer:
        lines = [f"{r['version']}  {r['module']}  {r['file']}"
                 + ("  (reverted)" if r.get("reverted") else "") for r in answer["reloads"]]
        return "\n".join(lines or ["no reloads"]) + "\n", 0
    if "reverted" in answer:
        return f"reverted {', '.join(answer['reverted'])} of {answer['module']}\n", 0
    reports = answer.get("reports") or []
    text = "".join(describe_reload(r).replace("DevSandbox: ", "") for r in reports)
    failed = any(r.get("status") not in ("ok", "not-loaded") for r in reports)
    return text, 1 if failed else 0


def _watch(args: argparse.Namespace) -> int:
    from ..live.watch import Watcher

    directories = [os.path.abspath(d) for d in (args.watch or [os.getcwd()])]

    async def main() -> None:
        async with cli.LiveTarget(args) as target:
            async def reload(path: str) -> None:
                try:
                    source = await asyncio.to_thread(Path(path).read_text, "utf-8")
                    report = await target.call("hotReload", {
                        "file": path, "source": source, "updateConstants": args.update_constants})
                except (OSError, UnicodeDecodeError, DevsandboxError) as exc:
                    sys.stdout.write(f"{path}: {exc}\n")
                else:
                    if report.get("status") != "not-loaded":
                        sys.stdout.write(describe_reload(report).replace("DevSandbox: ", ""))
                sys.stdout.flush()

            watcher = Watcher(directories, reload)
            watcher.start()
            sys.stdout.write(f"watching {', '.join(watcher.directories)} (Ctrl-C stops)\n")
            sys.stdout.flush()
            try:
                await asyncio.Event().wait()
            finally:
                watcher.stop()

    try:
        asyncio.run(main())
    except DevsandboxError as exc:
        sys.stderr.write(f"devsandbox reload: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
