"""The Vim plugin (editors/vim) in Debian's Vim 9 (vim-nox), headless (`vim -es`): a breakpoint
sign, :DevsandboxLaunch of a recorded session through `devsandbox dap`, :DevsandboxContinue,
:DevsandboxStepBack into the recorded past, the stack and variables window, a hover popup from
`devsandbox lsp`, the value history and :DevsandboxStop.  The steps are in vim_client.vim."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from editor_support import REPO, SAMPLE, editor_tests, kill_session, marker_line

HERE = Path(__file__).resolve().parent

pytestmark = [pytest.mark.editor, editor_tests, pytest.mark.timeout(180)]


def _vim9() -> bool:
    if shutil.which("vim") is None:
        return False
    probe = subprocess.run(["vim", "-Nu", "NONE", "-es", "-c",
                            "if has('patch-9.0.1276') && has('popupwin') | qa! | else | cq | endif"],
                           timeout=30, check=False, stdin=subprocess.DEVNULL)
    return probe.returncode == 0


def test_launch_breakpoint_step_back_and_hover(tmp_path: Path) -> None:
    if not _vim9():
        pytest.skip("Vim 9 (vim-nox) is not installed")
    ws = tmp_path / "ws"
    ws.mkdir()
    (tmp_path / "run").mkdir(mode=0o700)
    shutil.copy(SAMPLE, ws / "app.py")
    out = tmp_path / "report.json"
    line = marker_line("loop_body")  # total += i
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / "run"), HOME=str(tmp_path),
               DSB_PLUGIN=str(REPO / "editors" / "vim"), DSB_PYTHON=sys.executable,
               DSB_FILE=str(ws / "app.py"), DSB_LINE=str(line), DSB_OUT=str(out), TERM="dumb")
    proc = subprocess.Popen(["vim", "-Nu", "NONE", "-i", "NONE", "-es", "-S",
                             str(HERE / "vim_client.vim")],
                            cwd=ws, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=150)
    finally:
        kill_session(proc)
    assert out.exists(), f"vim exited {proc.returncode}: {stdout[-2000:]!r} {stderr[-2000:]!r}"
    report = json.loads(out.read_text())
    steps = {s["name"]: s for s in report["steps"]}
    detail = json.dumps(report, indent=1)[-6000:]
    assert "error" not in report, detail
    assert proc.returncode == 0, detail

    assert steps["breakpoint"]["ok"], detail
    assert steps["stopped"]["ok"] and f"DevsandboxPC:{line}" in steps["stopped"]["signs"], detail
    assert steps["continued"]["ok"], detail
    assert {"i = 3", "total = 3"} <= set(steps["continued"]["variables"]), detail

    # Step back: to the loop's `for` line, then the previous time round (i = 2, total = 1),
    # marked as the past in the sign column and in the session window.
    back1 = steps["step back 1"]
    assert back1["ok"] and back1["line"] == line - 1, detail
    assert back1["description"].startswith("Step back"), detail
    back2 = steps["step back 2"]
    assert back2["ok"] and {"i = 2", "total = 1"} <= set(back2["variables"]), detail
    assert f"DevsandboxPast:{line}" in back2["signs"], detail
    window = back2["window"]
    assert window[0].startswith("DevSandbox: stopped (Step back"), detail
    assert any(row.startswith("> accumulate") and row.endswith(f"app.py:{line}")
               for row in window), detail
    assert "  total = 1" in window and "  i = 2" in window, detail

    # The hover popup: the language server's value of `total` at this step of the recording.
    hover = steps["hover"]
    assert hover["ok"] and hover["hover"][0] == "total = 1", detail
    assert "of the recording" in " ".join(hover["hover"]), detail
    assert report["popups"] and report["popups"][-1][0] == "total = 1", detail

    # The value history in the quickfix list.
    assert [h.split(":")[1].strip() for h in report["history"]][:3] == [
        "total = 0  (accumulate)", "total = 1  (accumulate)", "total = 3  (accumulate)"], detail
    assert steps["ended"]["ok"], detail
