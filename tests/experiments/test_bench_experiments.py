"""Smoke test of ``python -m bench experiments --quick``: it runs and reports its parts (the
timings themselves are not checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_experiments_bench_quick() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", "experiments", "--quick", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=200,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["benchmark"] == "experiments"
    harness = result["harness"]
    assert harness["calls"] == 20_000
    assert 0 < harness["bare_call_ns"] and harness["measured_noop_ns"] > 0
    assert harness["overhead_per_measured_call_ns"] >= 0
    assert result["run"]["verdict"] in ("faster", "no significant difference", "slower")
    assert set(result["targets"]) == {"overhead_below_5us"}
