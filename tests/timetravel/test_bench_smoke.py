"""The time-travel benchmark runs (`python -m bench timetravel --quick`); timings are not checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_timetravel_quick() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", "timetravel", "--quick", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["benchmark"] == "timetravel"
    assert result["recording"]["line_events"] > 20_000
    for key in ("stepBack_ms", "variables_ms", "gotoStep_ms"):
        assert result[key]["p95"] > 0
    assert result["reverseContinue_ms"]["hit_line"] > 0
    assert result["valueHistory_changes"] > 0
    assert result["memory"]["rss"] > 0
    # the tracemalloc pass: what the replay allocated (it decompressed and scanned chunks)
    assert 0 < result["traced"]["held"] <= result["traced"]["peak"]
