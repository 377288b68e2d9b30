"""``devsandbox audit``: the audit log of live changes, injected code and what that code did.

Without ``--pid``/``--session``/``--connect`` the log files are read from
``--dir`` (default ``.devsandbox/audit`` in the current directory), so the log
can be read after the program has ended.  Filters: ``--change``, ``--action``,
``--client``; ``--limit`` keeps the last entries.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..live import cli

NAME = "audit"
HELP = "show the audit log of live changes and injected code"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", default=os.path.join(".devsandbox", "audit"),
                        help="the log directory to read when no program is named "
                             "(.devsandbox/audit)")
    parser.add_argument("--change", help="only the entries of this change id")
    parser.add_argument("--action", help="only this action (set, rollback, eval, call, event, "
                                         "hotReload, refused, ...)")
    parser.add_argument("--only-client", dest="only_client", help="only this client's entries")
    parser.add_argument("--limit", type=int, default=50, help="the last N entries (50; 0: all)")
    cli.add_target_arguments(parser, force=False)


def run(args: argparse.Namespace) -> int:
    match = {"change": args.change, "action": args.action, "client": args.only_client}
    if args.pid is None and not args.connect and args.session is None:
        entries = read_dir(args.dir, args.limit, match)
        if args.json:
            json.dump(entries, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(render({"entries": entries})[0])
        return 0

    async def body(target: cli.LiveTarget) -> Any:
        return await target.call("audit", dict({k: v for k, v in match.items() if v},
                                               limit=args.limit))

    return cli.run(args, NAME, body, render)


def read_dir(directory: str, limit: int, match: dict[str, Any]) -> list[dict[str, Any]]:
    wanted = {k: v for k, v in match.items() if v is not None}
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".jsonl"))
    except OSError:
        return []
    entries: list[dict[str, Any]] = []
    for name in names:
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and all(entry.get(k) == v for k, v in wanted.items()):
                    entries.append(entry)
    return entries[-limit:] if limit else entries


def render(answer: dict[str, Any]) -> tuple[str, int]:
    lines = []
    for e in answer.get("entries") or []:
        head = f"{e.get('time')} pid {e.get('pid')} {e.get('client')} {e.get('action')}"
        if e.get("action") == "event":
            lines.append(f"{head} {e.get('event')}({e.get('args')}) [run {e.get('run')}]")
        elif "old" in e:
            lines.append(f"{head} {e.get('path')}: {e.get('old')} -> {e.get('new')} "
                         f"[{e.get('change')}]")
        else:
            detail = {k: v for k, v in e.items()
                      if k not in ("time", "ts", "pid", "client", "action")}
            lines.append(f"{head} {json.dumps(detail, ensure_ascii=False)[:300]}")
    return "\n".join(lines or ["no audit entries"]) + "\n", 0
