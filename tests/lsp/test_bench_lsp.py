"""Smoke test of `python -m bench lsp --quick`: it runs and reports; timings are not checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.timeout(300)
def test_lsp_bench_quick() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", "lsp", "--quick", "--json"], cwd=REPO,
                          capture_output=True, text=True, timeout=280, stdin=subprocess.DEVNULL,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "lsp" and report["events"] >= 50_000
    assert set(report["ms"]) == {"live", "past", "inline"}
    assert all(s["n"] == 20 and s["p95"] > 0 for s in report["ms"].values())
    assert isinstance(report["claim"]["holds"], bool)
