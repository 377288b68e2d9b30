"""The experiments benchmark: what does the measuring harness add to each measured call?

1. Overhead per measured call: the harness times an empty function the way it
   times a variant (timer reads around the call, ``fn(*args, **kwargs)``, the
   exception guard); the median of that, minus what the call itself costs
   (``timeit`` of the same empty call), is the time the harness adds to every
   measured call.  Target: below 5 µs, so that timings of small functions stay
   meaningful.  Also shown: the harness's whole cost per call (CPU-time reads,
   bookkeeping, argument copies) that lies outside the measured window.
2. A whole experiment: ``devsandbox experiment run`` on a small module, offline
   with a worker process per variant, wall time (informative).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

HELP = "experiments: the harness overhead per measured call, and a whole run"
TARGET_OVERHEAD_NS = 5000.0

MODULE = """\
def work(n):
    return sum(i * i for i in range(n))
"""
VARIANT = """\
def work(n):
    return (n - 1) * n * (2 * n - 1) // 6
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--calls", type=int, default=200_000,
                        help="measured calls of the empty function (default 200000)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="repetitions; the best median is kept (default 5)")
    parser.add_argument("--no-run", action="store_true", help="skip the whole-experiment run")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few calls")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def harness(calls: int, repeat: int) -> dict[str, float]:
    from devsandbox.agent.experiments import measure, stats

    measured, loop = [], []
    for copy_inputs in (False, True):
        for _ in range(repeat):
            arm = measure.Arm("noop", _noop)
            arm.values = [("returned", None)]
            settings = measure.Settings(repeat=calls, min_rounds=calls, budget=1e9,
                                        copy_inputs=copy_inputs, memory=False)
            started = time.perf_counter_ns()
            measure.timing([arm], [((1, 2), {"k": 3})], settings, [1e-7])
            elapsed = time.perf_counter_ns() - started
            if not copy_inputs:
                measured.append(float(stats.summary(arm.per_input[0])["median"]))
            loop.append((copy_inputs, elapsed / calls))
    number = max(1000, calls // 10)
    bare = min(timeit.repeat(lambda: _noop(1, 2, k=3), number=number, repeat=repeat)) / number
    bare_ns = bare * 1e9
    # timeit's own loop calls a lambda: subtract one empty call for the lambda frame
    lam = min(timeit.repeat(lambda: None, number=number, repeat=repeat)) / number * 1e9
    call_ns = max(0.0, bare_ns - lam)
    best = min(measured)
    return {
        "measured_noop_ns": best,
        "bare_call_ns": call_ns,
        "overhead_per_measured_call_ns": max(0.0, best - call_ns),
        "loop_cost_per_call_ns": min(c for copied, c in loop if not copied),
        "loop_cost_per_call_with_copies_ns": min(c for copied, c in loop if copied),
        "calls": calls,
    }


def whole_run(python: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="devsandbox-bench-exp-") as tmp:
        root = Path(tmp)
        (root / "benchmod.py").write_text(MODULE)
        (root / "fast.py").write_text(VARIANT)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSANDBOX_")}
        started = time.perf_counter()
        proc = subprocess.run(
            [python, "-m", "devsandbox", "experiment", "run", "benchmod:work", "--call", "200",
             "--call", "2000", "--variant", "fast.py", "--repeat", "30", "--json", "--no-save"],
            cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"the experiment run failed: {proc.stderr}")
        report = json.loads(proc.stdout)["report"]
        [variant] = report["variants"]
        return {"wall_s": wall, "rounds": report["rounds"], "verdict": variant["verdict"],
                "ratio": variant["comparison"]["ratio"],
                "harness_overhead_in_worker_ns": report["environment"]["overheadNs"]}


def run(args: argparse.Namespace) -> int:
    calls = 20_000 if args.quick else args.calls
    repeat = 2 if args.quick else args.repeat
    result: dict[str, Any] = {"benchmark": "experiments", "python": sys.version.split()[0],
                              "harness": harness(calls, repeat)}
    if not args.no_run:
        result["run"] = whole_run(sys.executable)
    overhead = result["harness"]["overhead_per_measured_call_ns"]
    result["targets"] = {"overhead_below_5us": overhead < TARGET_OVERHEAD_NS}
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    h = result["harness"]
    lines = [
        f"Experiments harness (Python {result['python']}, {h['calls']:,} measured calls)",
        f"  an empty call as measured          {h['measured_noop_ns']:8.0f} ns",
        f"  the call itself (timeit)           {h['bare_call_ns']:8.0f} ns",
        f"  overhead per measured call         {overhead:8.0f} ns   (target < "
        + f"{TARGET_OVERHEAD_NS / 1000:g} µs: {'met' if overhead < TARGET_OVERHEAD_NS else 'MISSED'})",
        f"  harness cost per call, all in      {h['loop_cost_per_call_ns']:8.0f} ns ("
        + f"{h['loop_cost_per_call_with_copies_ns']:.0f} ns with argument copies, one input "
        + "per round)",
    ]
    if "run" in result:
        r = result["run"]
        lines.append(f"  whole run (offline, 1 variant, {r['rounds']} rounds): {r['wall_s']:.2f} s, "
                     f"variant {r['verdict']} ({r['ratio']:.3f}x)")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
