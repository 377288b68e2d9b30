"""``devsandbox demo``: a narrated debug session of a real program through `devsandbox dap`."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ..dapclient import DapClient

NAME = "demo"
HELP = "debug a small example program through the DAP server and narrate what happens"

SHOP = Path(__file__).resolve().parent.parent / "demo" / "shop.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter that runs the example program")


def _line(marker: str) -> int:
    for number, text in enumerate(SHOP.read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# @{marker}"):
            return number
    raise LookupError(marker)


def _say(title: str, detail: str = "") -> None:
    bold = "\033[1m" if sys.stdout.isatty() else ""
    reset = "\033[0m" if bold else ""
    print(f"\n{bold}== {title}{reset}")
    if detail:
        print(detail)


def _show_locals(dap: DapClient, frame_id: int) -> None:
    shown = ("total", "discount", "item", "count")
    local_vars = dap.locals(frame_id)
    print("locals: " + ", ".join(f"{k}={local_vars[k]}" for k in shown if k in local_vars))


def _source(line: int, around: int = 2) -> str:
    lines = SHOP.read_text().splitlines()
    out = []
    for n in range(max(1, line - around), min(len(lines), line + around) + 1):
        out.append(f"{'->' if n == line else '  '} {n:3d}  {lines[n - 1]}")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    # The example is copied to a workspace of its own, as a user's program would be (the
    # recorder leaves DevSandbox's own files out of recordings).
    with tempfile.TemporaryDirectory(prefix="devsandbox-demo-") as workspace:
        program = Path(workspace) / SHOP.name
        shutil.copy(SHOP, program)
        client = DapClient([sys.executable, "-m", "devsandbox", "dap"])
        try:
            return _narrate(client, args.python, program)
        finally:
            client.close()


def _narrate(dap: DapClient, python: str, program: Path) -> int:
    discount_line = _line("discount")
    _say("Launching", f"{program.name} under `devsandbox dap` (debugpy underneath, our agent and "
         f"recorder inside), breakpoint at line {discount_line} when discount > 0.2")
    dap.start("launch", {
        "program": str(program), "cwd": str(program.parent), "console": "internalConsole",
        "python": python, "env": {"SHOP_LINGER": "1.5"},
        "devsandbox": {"record": True},
    }, breakpoints={str(program): [{"line": discount_line, "condition": "discount > 0.2"}]})
    caps = dap.capabilities.get("devsandbox", {})
    print(f"server: devsandbox {caps.get('version')}, step back: "
          f"{'yes' if dap.capabilities.get('supportsStepBack') else 'no'}, "
          f"{len(caps.get('requests', []))} custom requests")

    stop = dap.stopped(timeout=30)
    tid = stop["threadId"]
    frames = dap.request("stackTrace", {"threadId": tid})["body"]["stackFrames"]
    _say(f"Stopped ({stop['reason']}) in {frames[0]['name']}()", _source(frames[0]["line"]))
    print("call stack: " + " <- ".join(f"{f['name']}:{f['line']}" for f in frames))
    _show_locals(dap, frames[0]["id"])
    expr = "round(total * (1 - discount), 2)"
    value = dap.request("evaluate", {"expression": expr, "frameId": frames[0]["id"],
                                     "context": "watch"})["body"]["result"]
    print(f"evaluate {expr} -> {value}")

    _say("Time travel: two steps back")
    for _ in range(2):
        back = dap.resume("stepBack", tid)
        frame = dap.top_frame(tid)
        print(f"{back.get('description')}: line {frame['line']}")
        print(_source(frame["line"], around=0))
        _show_locals(dap, frame["id"])
    history = dap.request("devsandbox/valueHistory", {
        "expression": "total", "frameId": frame["id"], "scope": "frame"})["body"]
    values = [c["value"] for c in history.get("changes", [])]
    print(f"every value total took in this call: {', '.join(values)}")
    last = dap.request("devsandbox/lastWrite", {"expression": "total",
                                                "frameId": frame["id"]})["body"]
    if last.get("found"):
        print(f"last write to total: line {last['line']} at step {last['step']}, "
              f"{last['old']} -> {last['new']}")
    back = dap.resume("continue", tid)
    print(f"continue walks the recording forward: {back.get('description') or back['reason']}")

    frame = dap.top_frame(tid)
    scopes = dap.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
    dap.request("setVariable", {"variablesReference": scopes[0]["variablesReference"],
                                "name": "discount", "value": "0.5"})
    _say("Live again: changed discount to 0.5 with setVariable, then stepped over the line")
    dap.resume("next", tid)
    local_vars = dap.locals(dap.top_frame(tid)["id"])
    print(f"total is now {local_vars['total']}")

    dap.request("setBreakpoints", {"source": {"path": str(program)}, "breakpoints": []})
    dap.request("continue", {"threadId": tid})
    time.sleep(0.5)
    _say("Discovery while the program runs (no pause)")
    report = dap.request("devsandbox/discover", timeout=30)["body"]
    for thread in report.get("threads", []):
        top = (thread.get("stack") or [{}])[0]
        if thread.get("debugger") or "debugpy" in top.get("file", ""):
            continue
        print(f"thread {thread['name']:<12} at {os.path.basename(top.get('file', '?'))}:"
              f"{top.get('line', '?')} in {top.get('function', '?')}")
    for loop in report.get("asyncio", {}).get("loops", []):
        for task in loop.get("tasks", []):
            where = task.get("location") or {}
            awaits = [a.get("qualname") or a.get("name") or a.get("type")
                      for a in task.get("awaiting", [])]
            print(f"task {task.get('name')}: {task.get('coroutine')} at line {where.get('line')},"
                  f" awaiting {' -> '.join(str(a) for a in awaits)}")
    for container in report.get("containers", [])[:5]:
        extra = f" {container['cache_info']}" if container.get("cache_info") else ""
        print(f"container {container.get('module')}.{container.get('name')}: "
              f"{container.get('type')} of {container.get('len')}{extra}")
    memory = report.get("memory", {})
    if memory.get("rss_bytes"):
        print(f"memory: RSS {memory['rss_bytes'] / 1e6:.1f} MB")

    exited = dap.event("exited", timeout=30)["body"]
    _say("Program output", dap.output("stdout").rstrip())
    print(f"\nexit code {exited.get('exitCode')}")
    dap.request("disconnect", check=False)
    return 0 if exited.get("exitCode") == 0 else 1
