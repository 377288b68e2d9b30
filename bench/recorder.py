"""The recorder's overhead on CPU-bound code, whole process as the user feels it.

For each interpreter (3.11 and 3.13 by default) and each workload under
bench/recorder_workloads/ (small CPU-bound programs in the style of
pyperformance's benchmarks, run as plain scripts), the median wall time of
several runs of:

  plain   python WORKLOAD
  noop    the floor of any line recorder: a C trace function doing nothing
          (PyEval_SetTrace on 3.11; sys.monitoring LINE and PY_START callbacks on 3.12+)
  record  python -m devsandbox.recorder -- WORKLOAD (values captured)

and prints record/plain, record/noop, and compressed bytes per event.  The
ratio inside a debugpy session is not measured yet.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP = "recorder overhead vs plain run and vs a no-op trace callback"
HERE = Path(__file__).parent
ROOT = HERE.parent
WORKLOADS = HERE / "recorder_workloads"
PYTHONS = ["/tmp/venv311/bin/python", "/tmp/venv313/bin/python"]

NOOP = """
import runpy, sys
from devsandbox import _tracer
sys.argv = sys.argv[1:]
if _tracer.MODE == "tee":
    _tracer.install_noop_trace()
else:
    m = sys.monitoring
    m.use_tool_id(4, "noop")
    m.register_callback(4, m.events.LINE, _tracer.mon_noop)
    m.register_callback(4, m.events.PY_START, _tracer.mon_noop)
    m.set_events(4, m.events.LINE | m.events.PY_START)
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--python", action="append", help="interpreter(s) (default: 3.11, 3.13 venvs)")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--workload", action="append", help="only these workloads (stem)")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "adapters"), str(ROOT / "server")])
    return env


def _time(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True, timeout=600)
    return time.perf_counter() - t0


def _bytes_per_event(python: str, path: str) -> float:
    out = subprocess.run([python, "-m", "devsandbox", "info", "--json", path], env=_env(),
                         capture_output=True, text=True, check=True)
    info = json.loads(out.stdout)
    return float(info["event_bytes_compressed"]) / max(1, info["events"])


def run(args: argparse.Namespace) -> int:
    pythons = [p for p in (args.python or PYTHONS) if os.path.exists(p)]
    workloads = sorted(WORKLOADS.glob("*.py"))
    if args.workload:
        workloads = [w for w in workloads if w.stem in args.workload]
    with tempfile.TemporaryDirectory() as tmp:
        noop = os.path.join(tmp, "noop.py")
        Path(noop).write_text(NOOP)
        rec = os.path.join(tmp, "r.dsrec")
        for python in pythons:
            version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                                     capture_output=True, text=True).stdout.strip()
            print(f"\n{python} ({version})")
            print(f"  {'workload':<12}{'plain s':>9}{'noop s':>9}{'record s':>10}"
                  f"{'rec/plain':>11}{'rec/noop':>10}{'B/event':>9}")
            ratios_plain, ratios_noop = [], []
            for w in workloads:
                modes = {
                    "plain": [python, str(w)],
                    "noop": [python, noop, str(w)],
                    "record": [python, "-m", "devsandbox.recorder", "--options",
                               json.dumps({"out": rec}), "--", str(w)],
                }
                times: dict[str, list[float]] = {m: [] for m in modes}
                for _ in range(args.runs):  # interleaved, so load changes hit all modes
                    for m, cmd in modes.items():
                        times[m].append(_time(cmd))
                med = {m: statistics.median(v) for m, v in times.items()}
                bpe = _bytes_per_event(python, rec)
                rp, rn = med["record"] / med["plain"], med["record"] / med["noop"]
                ratios_plain.append(rp)
                ratios_noop.append(rn)
                print(f"  {w.stem:<12}{med['plain']:>9.3f}{med['noop']:>9.3f}{med['record']:>10.3f}"
                      f"{rp:>10.2f}x{rn:>9.2f}x{bpe:>9.2f}")
            gm = math.exp(statistics.fmean(math.log(r) for r in ratios_plain))
            gn = math.exp(statistics.fmean(math.log(r) for r in ratios_noop))
            print(f"  {'geomean':<12}{'':>28}{gm:>10.2f}x{gn:>9.2f}x")
    return 0
