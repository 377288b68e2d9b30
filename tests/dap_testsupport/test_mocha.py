"""Run test.js (VS Code's DebugClient against `devsandbox dap`) under mocha.

mocha runs once per session; every `it(...)` in test.js becomes one pytest item
that reports that mocha test's result.  Node packages come from the cached
install that scripts/test makes (DEVSANDBOX_NODE_MODULES), or are installed here
with scripts/node-modules.  Without node the tests are skipped, except in CI,
where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TEST_JS = HERE / "test.js"
MOCHA_TIMEOUT = 300  # seconds for the whole mocha run

TITLES = re.findall(r"""^\s*it\(\s*'([^']+)'""", TEST_JS.read_text(), re.MULTILINE)


def _node_modules() -> Path:
    if os.environ.get("DEVSANDBOX_NODE_MODULES"):
        return Path(os.environ["DEVSANDBOX_NODE_MODULES"])
    out = subprocess.run(
        [str(REPO / "scripts" / "node-modules"), str(HERE)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300, check=False,
    )
    if out.returncode != 0:
        pytest.fail(f"installing the node packages failed:\n{out.stderr}")
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def mocha_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed for the DAP test-support tests")
        pytest.skip("node/npm not installed")
    modules = _node_modules()
    tmp = tmp_path_factory.mktemp("mocha")
    report, log = tmp / "report.json", tmp / "dap.log"
    env = dict(os.environ, DEVSANDBOX_PYTHON=sys.executable, DEVSANDBOX_DAP_LOG=str(log),
               NODE_PATH=str(modules))
    try:
        proc = subprocess.run(
            ["node", str(modules / "mocha" / "bin" / "mocha.js"), "--reporter", "json",
             "--reporter-option", f"output={report}", str(TEST_JS)],
            cwd=HERE, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=MOCHA_TIMEOUT, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"mocha did not finish in {MOCHA_TIMEOUT} s; output:\n{exc.output}")
    if not report.exists():
        pytest.fail(f"mocha wrote no report (exit {proc.returncode}):\n{proc.stdout}")
    data = json.loads(report.read_text())
    results = {t["title"]: dict(t, state="passed") for t in data["passes"]}
    for t in data["failures"]:
        results[t["title"]] = dict(t, state="failed")
    for t in data["pending"]:
        results[t["title"]] = dict(t, state="pending")
    log_tail = log.read_text(errors="replace")[-6000:] if log.exists() else "(no server log)"
    results["__output__"] = {"output": proc.stdout[-6000:], "log": log_tail}
    return results


@pytest.mark.parametrize("title", TITLES)
def test_debugclient(mocha_results: dict[str, dict], title: str) -> None:
    result = mocha_results.get(title)
    extra = mocha_results["__output__"]
    if result is None:
        pytest.fail(f"mocha did not run {title!r}; its output:\n{extra['output']}")
    if result["state"] == "failed":
        err = result.get("err") or {}
        pytest.fail(
            f"{err.get('message', '')}\n{err.get('stack', '')}\n"
            f"--- mocha output (adapter stderr) ---\n{extra['output']}\n"
            f"--- devsandbox dap log (tail) ---\n{extra['log']}",
            pytrace=False,
        )
    assert result["state"] == "passed", result["state"]


def test_every_mocha_test_is_reported(mocha_results: dict[str, dict]) -> None:
    ran = set(mocha_results) - {"__output__"}
    assert ran == set(TITLES)
