"""Smoke test of ``python -m bench live --quick``: it runs and reports its parts (no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_live_bench_quick() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", "live", "--quick", "--json"], cwd=REPO,
                          capture_output=True, text=True, timeout=200, stdin=subprocess.DEVNULL,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["benchmark"] == "live"
    for key in ("inspect_agent", "inspect_dap"):
        assert result[key]["count"] == 30 and 0 < result[key]["median_ms"] <= result[key]["p99_ms"]
    assert result["idle"]["agent_percent"] >= 0
    assert set(result["targets"]) == {"inspect_p95_below_10ms", "idle_agent_below_1_percent"}
