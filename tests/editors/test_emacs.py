"""The Emacs package (editors/emacs/devsandbox.el) in Debian's Emacs 28 with elpa-dap-mode
and elpa-eglot, in --batch: `dap-debug' with the package's recorded launch template (its
dap-mode provider starts `devsandbox dap'), a breakpoint, continue, `devsandbox-step-back'
into the recorded past, `devsandbox-value-history', a hover through eglot (the package's
`devsandbox-eglot-setup'), disconnect.  The steps are in emacs_client.el."""

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

pytestmark = [pytest.mark.editor, editor_tests, pytest.mark.timeout(240)]


def _emacs_with(*features: str) -> bool:
    if shutil.which("emacs") is None:
        return False
    requires = " ".join(f"(require '{f} nil t)" for f in features)
    probe = subprocess.run(
        ["emacs", "--batch", "--eval",
         f"(progn (package-initialize) (kill-emacs (if (and {requires}) 0 1)))"],
        capture_output=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    return probe.returncode == 0


def test_dap_mode_launch_step_back_and_eglot_hover(tmp_path: Path) -> None:
    if not _emacs_with("dap-mode", "eglot"):
        pytest.skip("emacs-nox with elpa-dap-mode and elpa-eglot is not installed")
    ws = tmp_path / "ws"
    ws.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "run").mkdir(mode=0o700)
    shutil.copy(SAMPLE, ws / "app.py")
    out = tmp_path / "report.json"
    line = marker_line("loop_body")  # total += i
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / "run"), HOME=str(home),
               DSB_PLUGIN=str(REPO / "editors" / "emacs"), DSB_PYTHON=sys.executable,
               DSB_FILE=str(ws / "app.py"), DSB_LINE=str(line), DSB_OUT=str(out), TERM="dumb")
    env.pop("EMACSLOADPATH", None)
    proc = subprocess.Popen(["emacs", "--batch", "-l", str(HERE / "emacs_client.el")],
                            cwd=ws, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=200)
    finally:
        kill_session(proc)
    log = output.decode(errors="replace")[-4000:]
    assert out.exists(), f"emacs exited {proc.returncode}:\n{log}"
    report = json.loads(out.read_text())
    steps = {s["name"]: s for s in report}
    detail = json.dumps(report, indent=1)[-5000:] + "\n" + log
    assert "error" not in steps and "timeout" not in steps, detail
    assert proc.returncode == 0, detail

    assert steps["stopped"]["ok"] and steps["stopped"]["line"] == line, detail
    assert steps["continued"]["ok"] and "i = 3" in steps["continued"]["locals"], detail
    # devsandbox-step-back: the loop's `for` line, then the previous time round the loop
    assert steps["step back 1"]["ok"] and steps["step back 1"]["line"] == line - 1, detail
    back2 = steps["step back 2"]
    assert back2["ok"] and back2["line"] == line, detail
    assert {"i = 2", "total = 1"} <= set(back2["locals"]), detail
    history = steps["value history"]["history"].splitlines()
    assert history[0] == "total: 3 changes", detail
    assert [row.split("   ")[-2].strip() for row in history[1:]] == [
        "total = 0", "total = 1", "total = 3"], detail
    # eglot's hover (what eldoc shows): the value at this step of the recording
    assert steps["hover"]["ok"], detail
    assert "total = 1" in steps["hover"]["hover"] and "of the recording" in steps["hover"]["hover"]
    assert steps["disconnected"]["ok"], detail


def test_lsp_mode_add_on_client_hover(ws, tmp_path: Path) -> None:
    """devsandbox.el's lsp-mode client (an add-on: it runs beside the main Python server)
    starts `devsandbox lsp'; its hover shows the paused program's value."""
    if not _emacs_with("lsp-mode"):
        pytest.skip("elpa-lsp-mode is not installed")
    dap = ws.launch(breakpoints=[{"line": ws.line("loop_body") + 1, "condition": "i == 3"}])
    assert dap.stopped(timeout=30)["reason"] == "breakpoint"
    position = ws.position("loop_body", "total")
    out = tmp_path / "hover.out"
    home = tmp_path / "home"
    home.mkdir()
    env = dict(ws.env, HOME=str(home), DSB_PLUGIN=str(REPO / "editors" / "emacs"),
               DSB_PYTHON=sys.executable, DSB_ROOT=str(ws.root), DSB_FILE=ws.app,
               DSB_LINE=str(position.line + 1), DSB_COL=str(position.character),
               DSB_OUT=str(out), TERM="dumb")
    env.pop("EMACSLOADPATH", None)
    proc = subprocess.Popen(["emacs", "--batch", "-l", str(HERE / "emacs_lsp_mode.el")],
                            cwd=str(ws.root), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=120)
    finally:
        kill_session(proc)
    shown = out.read_text() if out.exists() else ""
    detail = f"exit {proc.returncode}\n{output.decode(errors='replace')[-3000:]}"
    assert shown.startswith("devsandbox"), f"{shown!r}\n{detail}"  # the workspace's client
    assert "total = 3" in shown and "paused in `accumulate`" in shown, f"{shown!r}\n{detail}"
    assert proc.returncode == 0, detail
