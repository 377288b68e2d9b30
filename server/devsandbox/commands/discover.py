"""``devsandbox discover --pid N``: what a running Python program is doing, without pausing it.

Brings the agent into process N (see ``devsandbox.inject``), asks it for its
discovery report and prints it: threads and their stacks, asyncio tasks and
what they wait for, child processes, modules, the largest module-level
containers and memory.  ``--json`` prints the raw report.  ``--connect
HOST:PORT`` asks an agent that already listens (embedded mode) instead; its
token is read from the environment (DEVSANDBOX_TOKEN), never from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ..agent_link import AgentHub
from ..errors import DevsandboxError
from ..live.target import open_agent

NAME = "discover"
HELP = "show what a running Python program is doing (threads, tasks, children, modules, memory)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--pid", type=int, help="the process to inspect (the agent is injected)")
    target.add_argument(
        "--connect",
        metavar="HOST:PORT",
        help="an agent listening in the program (embedded mode); the token "
        "comes from the DEVSANDBOX_TOKEN environment variable",
    )
    parser.add_argument("--json", action="store_true", help="print the raw JSON report")
    parser.add_argument("--top", type=int, default=10, help="how many containers to show (10)")
    parser.add_argument(
        "--stack-depth",
        type=int,
        default=8,
        help="frames shown per thread, innermost first (8; 0: all)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the injection and for the report (30)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        report = asyncio.run(_collect(args))
    except DevsandboxError as exc:
        sys.stderr.write(f"devsandbox discover: {exc}\n")
        return 1
    out = sys.stdout
    if args.json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        out.write(render(report, stack_depth=args.stack_depth))
    out.flush()
    return 0


async def _collect(args: argparse.Namespace) -> dict[str, Any]:
    hub = AgentHub()
    try:
        pid = await open_agent(hub, pid=args.pid, connect=args.connect, timeout=args.timeout)
        return await hub.discover(pid, top=args.top, timeout=args.timeout)
    finally:
        await hub.close()


# -- the readable report ----------------------------------------------------------------------


def render(report: dict[str, Any], stack_depth: int = 8) -> str:
    lines: list[str] = []
    argv = " ".join(report.get("argv") or [])
    lines.append(f"Process {report.get('pid')} (Python {report.get('python')}): {argv}")
    lines.append(f"  cwd {report.get('cwd')}")
    sections: list[tuple[str, Callable[[Any, list[str]], None]]] = [
        ("threads", lambda data, out: _threads(data, out, stack_depth)),
        ("asyncio", _tasks),
        ("children", _children),
        ("modules", _modules),
        ("containers", _containers),
        ("memory", _memory),
    ]
    errors = report.get("errors") or {}
    for name, render_section in sections:
        data = report.get(name)
        if name in errors:
            lines += ["", f"{name.capitalize()}: could not be read ({errors[name]})"]
        elif data is not None:
            lines.append("")
            render_section(data, lines)
    return "\n".join(lines) + "\n"


def _where(frame: dict[str, Any]) -> str:
    return f"{frame.get('function')} ({_short(frame.get('file'))}:{frame.get('line')})"


def _short(path: Any) -> str:
    text = str(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return rel if not rel.startswith("..") else text


def _threads(threads: list[dict[str, Any]], out: list[str], depth: int) -> None:
    out.append(f"Threads ({len(threads)}):")
    for thread in threads:
        flags = [
            f
            for f, on in (
                ("main", thread.get("main")),
                ("daemon", thread.get("daemon")),
                ("debugger", thread.get("debugger")),
                ("stopped by the debugger", thread.get("suspended")),
            )
            if on
        ]
        out.append(
            f"  {thread.get('name')} [{', '.join(flags) or 'thread'}] id {thread.get('ident')}"
        )
        stack = thread.get("stack") or []
        shown = stack if depth <= 0 else stack[:depth]
        for frame in shown:
            out.append(f"      at {_where(frame)}")
        if len(shown) < len(stack):
            out.append(f"      ... {len(stack) - len(shown)} more")


def _tasks(data: dict[str, Any], out: list[str]) -> None:
    loops = data.get("loops") or []
    count = sum(len(loop.get("tasks") or []) for loop in loops)
    out.append(f"Asyncio: {len(loops)} event loop(s), {count} task(s)")
    for loop in loops:
        state = "running" if loop.get("running") else ("closed" if loop.get("closed") else "idle")
        out.append(f"  loop {loop.get('type')} ({state}, thread {loop.get('thread')})")
        for task in loop.get("tasks") or []:
            where = task.get("location")
            at = f" at {_short(where.get('file'))}:{where.get('line')}" if where else ""
            out.append(f"    task {task.get('name')!s}: {task.get('coroutine')}{at}")
            chain = [_awaited(item) for item in task.get("awaiting") or []]
            if chain:
                out.append(f"      awaiting {' -> '.join(chain)}")


def _awaited(item: dict[str, Any]) -> str:
    if item.get("kind") == "coroutine":
        return str(item.get("qualname"))
    if item.get("kind") == "task":
        return f"task {item.get('name')}"
    children = item.get("children")
    if children:
        return f"gather({', '.join(str(c) for c in children)})"
    return str(item.get("type", "future")).rpartition(".")[2]


def _children(data: dict[str, Any], out: list[str]) -> None:
    if not data.get("supported"):
        out.append("Child processes: not available on this system")
        return
    procs = data.get("processes") or []
    out.append(f"Child processes ({len(procs)}):")
    for proc in procs:
        agent = (
            "agent connected"
            if proc.get("agent_connected")
            else ("agent environment" if proc.get("has_agent") else "no agent")
        )
        indent = "  " * int(proc.get("depth") or 1)
        out.append(f"{indent}{proc.get('pid')} ({agent}): {' '.join(proc.get('cmdline') or [])}")


def _modules(data: dict[str, Any], out: list[str]) -> None:
    counts = data.get("counts") or {}
    out.append(
        f"Modules: {counts.get('own', 0)} own, {counts.get('third_party', 0)} third-party, "
        f"{counts.get('stdlib', 0)} standard library, {counts.get('other', 0)} other"
    )
    graph = data.get("import_graph") or {}
    for module in data.get("own") or []:
        name = module.get("name")
        imports = graph.get(name) or []
        arrow = f" -> {', '.join(imports)}" if imports else ""
        out.append(f"  {name}{arrow}")
    third = data.get("third_party") or []
    if third:
        out.append("  third-party: " + ", ".join(str(t.get("name")) for t in third))


def _containers(items: list[dict[str, Any]], out: list[str]) -> None:
    out.append(f"Largest module-level containers ({len(items)}):")
    for item in items:
        size = _bytes(item.get("size_bytes"))
        label = f"{item.get('module')}.{item.get('name')}"
        if item.get("kind") == "lru_cache":
            info = item.get("cache_info") or {}
            out.append(
                f"  {label}: lru_cache {info.get('currsize')}/{info.get('maxsize')} entries, "
                f"{info.get('hits')} hits, {info.get('misses')} misses (~{size})"
            )
        else:
            out.append(f"  {label}: {item.get('type')} of {item.get('len')} (~{size})")


def _memory(data: dict[str, Any], out: list[str]) -> None:
    out.append(
        f"Memory: RSS {_bytes(data.get('rss_bytes'))}, peak {_bytes(data.get('peak_rss_bytes'))}; "
        f"gc counts {data.get('gc_counts')}"
    )
    partial = "" if data.get("complete") else f" (first {data.get('objects_counted')} only)"
    out.append(
        f"  {data.get('gc_tracked_objects')} objects tracked by gc{partial}; most common types:"
    )
    for entry in (data.get("types") or [])[:10]:
        out.append(f"    {entry.get('count'):>8}  {entry.get('type')}")


def _bytes(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return "?"
