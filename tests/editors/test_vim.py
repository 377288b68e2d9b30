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


def run_vim(script: str, tmp_path: Path, **extra: str) -> dict:
    """Run a client script on a copy of the sample in Vim; its JSON report."""
    if not _vim9():
        pytest.skip("Vim 9 (vim-nox) is not installed")
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    (tmp_path / "run").mkdir(mode=0o700, exist_ok=True)
    shutil.copy(SAMPLE, ws / "app.py")
    out = tmp_path / f"{script}.json"
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / "run"), HOME=str(tmp_path),
               DSB_PLUGIN=str(REPO / "editors" / "vim"), DSB_PYTHON=sys.executable,
               DSB_FILE=str(ws / "app.py"), DSB_LINE=str(marker_line("loop_body")),
               DSB_OUT=str(out), TERM="dumb", **extra)
    proc = subprocess.Popen(["vim", "-Nu", "NONE", "-i", "NONE", "-es", "-S", str(HERE / script)],
                            cwd=ws, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=150)
    finally:
        kill_session(proc)
    assert out.exists(), f"vim exited {proc.returncode}: {stdout[-2000:]!r} {stderr[-2000:]!r}"
    report = json.loads(out.read_text())
    report["returncode"] = proc.returncode
    return report


def test_launch_breakpoint_step_back_and_hover(tmp_path: Path) -> None:
    line = marker_line("loop_body")  # total += i
    report = run_vim("vim_client.vim", tmp_path)
    steps = {s["name"]: s for s in report["steps"]}
    detail = json.dumps(report, indent=1)[-6000:]
    assert "error" not in report, detail
    assert report["returncode"] == 0, detail

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


def test_replay_a_recording(tmp_path: Path) -> None:
    """:DevsandboxReplay of a recording made with `devsandbox record`: reverse continue to the
    last hit of the breakpoint, step back to the time round before, last write."""
    line = marker_line("loop_body")
    recording = tmp_path / "app.dsrec"
    (tmp_path / "ws").mkdir()
    program = shutil.copy(SAMPLE, tmp_path / "ws" / "app.py")
    subprocess.run([sys.executable, "-m", "devsandbox", "record", "-q", "-o", str(recording), "--",
                    str(program)], check=True, timeout=60, stdout=subprocess.DEVNULL,
                   cwd=tmp_path / "ws")
    report = run_vim("vim_replay.vim", tmp_path, DSB_RECORDING=str(recording))
    steps = {s["name"]: s for s in report["steps"]}
    detail = json.dumps(report, indent=1)[-6000:]
    assert "error" not in report and report["returncode"] == 0, detail
    assert steps["replaying"]["ok"], detail
    assert steps["replaying"]["description"].startswith("End of the recording"), detail
    back = steps["reverse continue"]
    assert back["ok"] and {"i = 9", "total = 36"} <= set(back["variables"]), detail
    assert f"DevsandboxPast:{line}" in back["signs"], detail
    assert steps["step back"]["ok"], detail
    assert {"i = 8", "total = 28"} <= set(steps["step back"]["variables"]), detail
    assert steps["last write"]["ok"], detail
    assert "total became 28 (was 21)" in report["messages"], detail
    assert steps["ended"]["ok"], detail
