"""Run a workload program plainly or under a DAP server, and time it.

A workload prints ``BENCH {"seconds": ...}`` (see workloads/_timing.py): the
time spent in its work, as the program itself measured it.  The runner also
measures the whole run's wall time: process start to exit for a plain run,
adapter start to the ``terminated`` event for a debugged one (which includes
starting the adapter, debugpy's injection and, for devsandbox, the agent).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devsandbox.dapclient import DapClient, DapError, DapTimeout

WORKLOADS = Path(__file__).resolve().parent / "workloads"
RUN_TIMEOUT = 300.0


class RunFailed(Exception):
    pass


@dataclass
class Timing:
    program: float  # seconds inside the workload
    cpu: float  # CPU seconds of the debuggee process (all its threads) during the workload
    wall: float  # seconds for the whole run


def parse_bench_line(output: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[len("BENCH "):])
    raise RunFailed(f"the program printed no BENCH line; output:\n{output[-2000:]}")


def run_plain(python: str, program: Path, args: list[str]) -> Timing:
    start = time.perf_counter()
    proc = subprocess.run([python, str(program), *args], cwd=program.parent, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RunFailed(f"{program.name} exited {proc.returncode}: {proc.stderr[-2000:]}")
    bench = parse_bench_line(proc.stdout)
    return Timing(bench["seconds"], bench["cpu"], wall)


def adapter_argv(python: str, adapter: str) -> list[str]:
    if adapter == "debugpy":
        return [python, "-m", "debugpy.adapter"]
    if adapter == "devsandbox":
        return [python, "-m", "devsandbox", "dap"]
    raise ValueError(adapter)


def run_dap(python: str, adapter: str, program: Path, args: list[str],
            extra_config: dict[str, Any] | None = None) -> Timing:
    """launch (justMyCode, no breakpoints), configurationDone, run to the end."""
    config: dict[str, Any] = {
        "type": "python", "request": "launch", "name": "bench", "program": str(program),
        "args": args, "cwd": str(program.parent), "python": python,
        "console": "internalConsole", "justMyCode": True,
    }
    config.update(extra_config or {})
    with tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        client = DapClient(adapter_argv(python, adapter), stderr=stderr)
        try:
            client.start("launch", config, exception_filters=[], timeout=60)
            client.event("terminated", timeout=RUN_TIMEOUT)
            wall = time.perf_counter() - start
            exited = client.events("exited")
            output = client.output()
        except (DapError, DapTimeout) as exc:
            stderr.seek(0)
            raise RunFailed(f"{adapter}: {exc}\n--- adapter stderr ---\n{stderr.read()[-3000:]}")
        finally:
            try:
                client.request("disconnect", {}, timeout=5, check=False)
            except (DapTimeout, OSError):
                pass
            client.close()
    if exited and exited[0]["body"].get("exitCode") not in (0, None):
        raise RunFailed(f"{program.name} exited {exited[0]['body']['exitCode']} under {adapter}:\n"
                        f"{output[-2000:]}")
    bench = parse_bench_line(output)
    return Timing(bench["seconds"], bench["cpu"], wall)


def python_version(python: str) -> str:
    if python == sys.executable:
        return sys.version.split()[0]
    return subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                          capture_output=True, text=True, check=True).stdout.strip()
