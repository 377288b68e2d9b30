"""The foundation benchmark: what does debugging through DevSandbox cost when it is not recording?

CPU-bound workloads (bench/workloads/) run three ways, interleaved and repeated:
  plain       python prog.py
  debugpy     a DAP session through debugpy's adapter alone (launch, justMyCode,
              no breakpoints, run to the end)
  devsandbox  the same session through `devsandbox dap`, agent on, recording off
For each workload it reports the median time inside the program and the median
wall time of the whole run, the ratios between the modes, and their geometric
means; then whether "devsandbox without recording is within 5% of debugpy alone"
holds (geometric mean of the in-program ratio devsandbox/debugpy <= 1.05).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from typing import Any

from .runner import WORKLOADS, RunFailed, Timing, python_version, run_dap, run_plain

HELP = "debugging cost without recording: plain vs debugpy vs devsandbox"

WORKLOAD_NAMES = ["fib", "loops", "churn", "strings"]
QUICK_WORKLOAD = "tiny"
MODES = ["plain", "debugpy", "devsandbox"]
RATIOS = [("debugpy", "plain"), ("devsandbox", "plain"), ("devsandbox", "debugpy")]
THRESHOLD = 1.05
# program: the work's wall time, measured by the program; cpu: the debuggee's CPU time meanwhile
# (less disturbed by other load on the machine); wall: the whole run, start to end
KINDS = ("program", "cpu", "wall")
DEVSANDBOX_CONFIG = {"devsandbox": {"record": False}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--repeat", type=int, default=5,
                        help="runs of each workload in each mode (default 5)")
    parser.add_argument("--workloads", default=",".join(WORKLOAD_NAMES),
                        help=f"comma-separated, from {', '.join(WORKLOAD_NAMES + [QUICK_WORKLOAD])}")
    parser.add_argument("--scale", type=int, default=None,
                        help="the workloads' size argument (default: each workload's own)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter running the programs and the adapters (default: this one)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1 repetition of the tiny workload")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")


def run_one(mode: str, python: str, workload: str, scale: int | None) -> Timing:
    program = WORKLOADS / f"{workload}.py"
    args = [] if scale is None else [str(scale)]
    if mode == "plain":
        return run_plain(python, program, args)
    if mode == "debugpy":
        return run_dap(python, "debugpy", program, args)
    return run_dap(python, "devsandbox", program, args, DEVSANDBOX_CONFIG)


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def measure(python: str, workloads: list[str], repeat: int, scale: int | None,
            progress: bool) -> dict[str, dict[str, dict[str, list[float]]]]:
    samples = {w: {m: {kind: [] for kind in KINDS} for m in MODES} for w in workloads}
    for rep in range(repeat):
        for i, workload in enumerate(workloads):
            # rotate the order so no mode always runs right after another
            shift = (rep + i) % len(MODES)
            for mode in MODES[shift:] + MODES[:shift]:
                t = run_one(mode, python, workload, scale)
                for kind in KINDS:
                    samples[workload][mode][kind].append(getattr(t, kind))
                if progress:
                    print(f"  [{rep + 1}/{repeat}] {workload:8} {mode:10} program {t.program:7.3f} s"
                          f"   cpu {t.cpu:7.3f} s   wall {t.wall:7.3f} s", file=sys.stderr)
    return samples


def summarize(samples: dict[str, dict[str, dict[str, list[float]]]]) -> dict[str, Any]:
    result: dict[str, Any] = {"workloads": {}, "geomean": {}}
    for kind in KINDS:
        per_ratio: dict[str, list[float]] = {f"{a}/{b}": [] for a, b in RATIOS}
        for workload, modes in samples.items():
            entry = result["workloads"].setdefault(workload, {"median": {}, "ratios": {}})
            medians = {m: statistics.median(modes[m][kind]) for m in MODES}
            entry["median"][kind] = medians
            entry["ratios"][kind] = {}
            for a, b in RATIOS:
                ratio = medians[a] / medians[b]
                entry["ratios"][kind][f"{a}/{b}"] = ratio
                per_ratio[f"{a}/{b}"].append(ratio)
        result["geomean"][kind] = {name: geomean(vals) for name, vals in per_ratio.items()}
    overhead = result["geomean"]["program"]["devsandbox/debugpy"]
    cpu_overhead = result["geomean"]["cpu"]["devsandbox/debugpy"]
    result["claim"] = {
        "text": "devsandbox without recording within 5% of debugpy alone",
        "measure": "geometric mean over workloads of median in-program time, devsandbox/debugpy",
        "value": overhead,
        "cpu_value": cpu_overhead,
        "threshold": THRESHOLD,
        "holds": overhead <= THRESHOLD,
    }
    result["noise"] = noise(samples)
    result["samples"] = samples
    return result


def noise(samples: dict[str, dict[str, dict[str, list[float]]]]) -> dict[str, float]:
    """Largest run-to-run spread ((max - min) / median) per kind, over workloads and modes."""
    out = {}
    for kind in KINDS:
        spreads = [(max(v) - min(v)) / statistics.median(v)
                   for modes in samples.values() for m in MODES
                   for v in [modes[m][kind]] if len(v) > 1 and statistics.median(v) > 0]
        out[kind] = max(spreads, default=0.0)
    return out


def table(result: dict[str, Any], kind: str, title: str) -> str:
    head = (f"{'workload':10} {'plain':>9} {'debugpy':>9} {'devsandbox':>10}   "
            f"{'debugpy/plain':>13} {'devsandbox/plain':>16} {'devsandbox/debugpy':>18}")
    lines = [title, head, "-" * len(head)]
    for workload, entry in result["workloads"].items():
        med, rat = entry["median"][kind], entry["ratios"][kind]
        lines.append(
            f"{workload:10} {med['plain']:8.3f}s {med['debugpy']:8.3f}s {med['devsandbox']:9.3f}s   "
            f"{rat['debugpy/plain']:12.2f}x {rat['devsandbox/plain']:15.2f}x "
            f"{rat['devsandbox/debugpy']:17.3f}x")
    g = result["geomean"][kind]
    lines.append(f"{'geomean':10} {'':9} {'':9} {'':10}   {g['debugpy/plain']:12.2f}x "
                 f"{g['devsandbox/plain']:15.2f}x {g['devsandbox/debugpy']:17.3f}x")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    workloads = [QUICK_WORKLOAD] if args.quick else [w for w in args.workloads.split(",") if w]
    repeat = 1 if args.quick else args.repeat
    for w in workloads:
        if not (WORKLOADS / f"{w}.py").is_file() or w.startswith("_"):
            print(f"unknown workload {w!r}", file=sys.stderr)
            return 2
    version = python_version(args.python)
    if not args.json:
        print(f"foundation benchmark: Python {version} ({args.python}), {repeat} run(s) of "
              f"{', '.join(workloads)} in each mode (medians)", file=sys.stderr)
    try:
        samples = measure(args.python, workloads, repeat, args.scale, progress=not args.json)
    except RunFailed as exc:
        print(f"benchmark run failed: {exc}", file=sys.stderr)
        return 1
    result = summarize(samples)
    result.update(benchmark="foundation", python=version, executable=args.python, repeat=repeat,
                  quick=args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print()
    print(table(result, "program", "Time inside the program (median)"))
    print()
    print(table(result, "cpu", "CPU time of the program's process during the work (median)"))
    print()
    print(table(result, "wall", "Wall time of the whole run, process or session (median)"))
    claim = result["claim"]
    print()
    print(f"Claim: {claim['text']}: devsandbox/debugpy = {claim['value']:.3f} "
          f"({(claim['value'] - 1) * 100:+.1f}%, in-program time, geometric mean): "
          f"{'HOLDS' if claim['holds'] else 'DOES NOT HOLD'}; in CPU time {claim['cpu_value']:.3f} "
          f"({(claim['cpu_value'] - 1) * 100:+.1f}%)"
          + ("  (quick run: not meaningful)" if args.quick else ""))
    spread = result["noise"]
    if spread["program"] > 0.10:
        print(f"Warning: in-program times varied by up to {spread['program'] * 100:.0f}% between runs "
              f"(CPU times by {spread['cpu'] * 100:.0f}%): the machine is busy, so the wall-time "
              "verdict is unreliable; the CPU-time ratio is the steadier figure.")
    return 0
