"""The live-state benchmark: how fast is an inspect, and what does an idle agent cost?

1. Inspect round trip: a program runs with its agent connected; the benchmark
   sends ``live/inspect`` (a dict with nested containers, one page of children)
   many times and reports the median, p95 and p99 latency, directly to the agent
   and through ``devsandbox dap`` (``devsandbox/inspect``, the program launched
   under debugpy).  Target: p95 below 10 ms.
2. Idle cost: the same sleeping program's CPU time (from /proc) over a window,
   with the agent connected but not asked anything, and without DevSandbox at
   all.  Target: the agent's share below 1% of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HELP = "live state: inspect round-trip latency and the idle agent's CPU cost"
TARGET_P95_MS = 10.0
TARGET_IDLE_PERCENT = 1.0

PROGRAM = """\
import time
CONFIG = {"name": "bench", "limits": {"cpu": 1, "mem": 2}, "items": list(range(200)),
          "nested": {"a": {"b": {"c": [1, 2, 3]}}}, "tags": ["x", "y", "z"]}
print("ready", flush=True)
while True:
    time.sleep(0.2)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--requests", type=int, default=500,
                        help="inspect requests per path (default 500)")
    parser.add_argument("--idle", type=float, default=10.0,
                        help="seconds the idle CPU is measured over, each way (default 10)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter running the program (default: this one)")
    parser.add_argument("--no-dap", action="store_true", help="skip the run through devsandbox dap")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few requests, 1 s idle")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSANDBOX_")}
    env.pop("PYTHONPATH", None)
    env.update(extra or {})
    return env


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def _idle_percent(pid: int, seconds: float) -> float:
    before, start = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (_cpu_seconds(pid) - before) / (time.monotonic() - start)


def _latencies(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {"median_ms": statistics.median(ordered) * 1000, "p95_ms": pct(95) * 1000,
            "p99_ms": pct(99) * 1000, "max_ms": ordered[-1] * 1000, "count": len(ordered)}


def _start(python: str, program: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([python, str(program)], env=env, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return proc


async def _agent_run(python: str, program: Path, requests: int, idle: float) -> dict[str, Any]:
    from devsandbox.agent_link import AgentHub

    hub = AgentHub()
    await hub.listen()
    env = _env()
    env.update(hub.launch_env({}, env))
    proc = _start(python, program, env)
    try:
        assert proc.stdout is not None
        await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        await hub.wait_for_agent(proc.pid, timeout=30)
        params = {"path": "__main__:CONFIG", "client": "bench"}
        for _ in range(20):  # warm-up: imports, caches
            await hub.call("live/inspect", params)
        samples = []
        for _ in range(requests):
            start = time.perf_counter()
            await hub.call("live/inspect", params)
            samples.append(time.perf_counter() - start)
        await asyncio.sleep(0.5)
        cpu = await asyncio.to_thread(_idle_percent, proc.pid, idle)
        return {"inspect": _latencies(samples), "idle_cpu_percent": cpu}
    finally:
        proc.kill()
        proc.wait(10)
        await hub.close()


def _plain_idle(python: str, program: Path, idle: float) -> float:
    proc = _start(python, program, _env())
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(0.5)
        return _idle_percent(proc.pid, idle)
    finally:
        proc.kill()
        proc.wait(10)


def _dap_run(python: str, program: Path, requests: int) -> dict[str, float]:
    from devsandbox.dapclient import DapClient

    dap = DapClient(env=_env())
    try:
        dap.start("launch", {"program": str(program), "console": "internalConsole",
                             "python": python, "justMyCode": True}, timeout=60)
        args = {"path": "__main__:CONFIG"}
        deadline = time.monotonic() + 30
        while not dap.request("devsandbox/inspect", args, timeout=30, check=False)["success"]:
            if time.monotonic() > deadline:
                raise RuntimeError("the agent never answered through devsandbox dap")
            time.sleep(0.1)
        for _ in range(20):
            dap.request("devsandbox/inspect", args, timeout=30)
        samples = []
        for _ in range(requests):
            start = time.perf_counter()
            dap.request("devsandbox/inspect", args, timeout=30)
            samples.append(time.perf_counter() - start)
        return _latencies(samples)
    finally:
        dap.request("disconnect", {"terminateDebuggee": True}, timeout=10, check=False)
        dap.close()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    requests = 30 if args.quick else args.requests
    idle = 1.0 if args.quick else args.idle
    with tempfile.TemporaryDirectory(prefix="devsandbox-bench-live-") as tmp:
        program = Path(tmp) / "idle_program.py"
        program.write_text(PROGRAM)
        agent = asyncio.run(_agent_run(args.python, program, requests, idle))
        plain = _plain_idle(args.python, program, idle)
        result: dict[str, Any] = {
            "benchmark": "live", "python": sys.version.split()[0], "requests": requests,
            "inspect_agent": agent["inspect"],
            "idle": {"seconds": idle, "with_agent_percent": agent["idle_cpu_percent"],
                     "plain_percent": plain,
                     "agent_percent": max(0.0, agent["idle_cpu_percent"] - plain)},
        }
        if not args.no_dap:
            result["inspect_dap"] = _dap_run(args.python, program, requests)
    worst = max(result[k]["p95_ms"] for k in ("inspect_agent", "inspect_dap") if k in result)
    result["targets"] = {
        "inspect_p95_below_10ms": worst < TARGET_P95_MS,
        "idle_agent_below_1_percent": result["idle"]["agent_percent"] < TARGET_IDLE_PERCENT,
    }
    return result


def report(result: dict[str, Any]) -> str:
    lines = [f"Live state benchmark (Python {result['python']}, {result['requests']} requests)"]
    for key, title in (("inspect_agent", "inspect, directly to the agent"),
                       ("inspect_dap", "inspect through devsandbox dap")):
        if key in result:
            r = result[key]
            lines.append(f"  {title:<34} median {r['median_ms']:6.2f} ms   p95 "
                         f"{r['p95_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms")
    idle = result["idle"]
    lines.append(f"  idle program CPU over {idle['seconds']:g} s: {idle['with_agent_percent']:.2f}% "
                 f"with the agent, {idle['plain_percent']:.2f}% without: the agent costs "
                 f"{idle['agent_percent']:.2f}% of a core")
    targets = result["targets"]
    lines.append(f"  target inspect p95 < {TARGET_P95_MS:g} ms: "
                 f"{'met' if targets['inspect_p95_below_10ms'] else 'MISSED'}; "
                 f"idle agent < {TARGET_IDLE_PERCENT:g}%: "
                 f"{'met' if targets['idle_agent_below_1_percent'] else 'MISSED'}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    result = measure(args)
    sys.stdout.write(json.dumps(result, indent=2) + "\n" if args.json else report(result))
    return 0
