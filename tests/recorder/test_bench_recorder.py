"""Smoke test of `python -m bench recorder` (its own small workloads, one run): every mode
runs and the report has its ratios.  Timings are not checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def test_bench_recorder_quick():
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "recorder", "--suite", "own", "--quick", "--json",
         "--python", sys.executable, "--workload", "richards"],
        cwd=REPO, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    (only,) = result["pythons"].values()
    run = only["workloads"]["richards"]
    assert set(run["wall"]) == {"plain", "noop", "record", "whole", "debug", "debug+rec"}
    assert all(t > 0 for t in run["wall"].values())
    assert run["bytes_per_line"] > 0 and run["events"] > 1000
