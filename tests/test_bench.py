"""Smoke test of the benchmarks (`python -m bench ... --quick`), so they cannot rot.

Timings are not checked here: only that every mode runs and the report has its parts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=240, stdin=subprocess.DEVNULL)


def test_foundation_quick(monkeypatch) -> None:
    proc = run_bench("--quick", "--json")  # no name: the foundation benchmark
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["benchmark"] == "foundation" and result["repeat"] == 1
    tiny = result["workloads"]["tiny"]
    for kind in ("program", "cpu", "wall"):
        assert set(tiny["median"][kind]) == {"plain", "debugpy", "devsandbox"}
        assert all(t > 0 for t in tiny["median"][kind].values())
        assert set(result["geomean"][kind]) == {"debugpy/plain", "devsandbox/plain",
                                                "devsandbox/debugpy"}
    assert isinstance(result["claim"]["holds"], bool)

    # the human-readable table, from the same results
    monkeypatch.syspath_prepend(str(REPO))
    from bench.foundation import table

    text = table(result, "program", "Time inside the program")
    assert text.splitlines()[0] == "Time inside the program"
    assert "devsandbox/debugpy" in text and text.splitlines()[-1].startswith("geomean")


def test_bench_rejects_an_unknown_workload() -> None:
    proc = run_bench("foundation", "--workloads", "nope")
    assert proc.returncode == 2
    assert "unknown workload" in proc.stderr
