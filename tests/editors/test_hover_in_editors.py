"""Each editor's own LSP client gets a hover from `devsandbox lsp` while the program is
paused: Emacs (eglot and lsp-mode, batch), Vim 9 (channel in lsp mode, silent Ex mode) and
Neovim 0.7 (built-in client, headless).  Skipped when the editor is not installed
(scripts/system-packages.txt lists them; scripts/install-system-deps installs them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lsp_support import Workspace

HERE = Path(__file__).resolve().parent

pytestmark = [pytest.mark.editor, pytest.mark.timeout(180)]


def _emacs_has(feature: str) -> bool:
    if shutil.which("emacs") is None:
        return False
    probe = subprocess.run(
        ["emacs", "--batch", "--eval",
         f"(progn (package-initialize) (kill-emacs (if (require '{feature} nil t) 0 1)))"],
        capture_output=True, timeout=60, check=False)
    return probe.returncode == 0


EDITORS = {
    "eglot": (lambda: _emacs_has("eglot"),
              lambda: ["emacs", "--batch", "-l", str(HERE / "hover_eglot.el")]),
    "lsp-mode": (lambda: _emacs_has("lsp-mode"),
                 lambda: ["emacs", "--batch", "-l", str(HERE / "hover_lsp_mode.el")]),
    "vim": (lambda: shutil.which("vim") is not None and subprocess.run(
        ["vim", "-Nu", "NONE", "-es", "-c", "if has('patch-9.0.1276') | qa! | else | cq | endif"],
        timeout=30, check=False).returncode == 0,
            lambda: ["vim", "-Nu", "NONE", "-i", "NONE", "-es", "-S", str(HERE / "hover.vim")]),
    "neovim": (lambda: shutil.which("nvim") is not None,
               lambda: ["nvim", "--headless", "-u", "NONE", "-i", "NONE",
                        "-c", f"luafile {HERE / 'hover.lua'}"]),
}


@pytest.mark.parametrize("editor", sorted(EDITORS))
def test_editor_shows_the_value_under_the_cursor(editor: str, ws: Workspace,
                                                 tmp_path: Path) -> None:
    available, command = EDITORS[editor]
    if not available():
        pytest.skip(f"{editor} is not installed")
    dap = ws.launch(breakpoints=[{"line": ws.line("loop_body") + 1, "condition": "i == 3"}])
    assert dap.stopped(timeout=30)["reason"] == "breakpoint"

    position = ws.position("loop_body", "total")
    out = tmp_path / "hover.out"
    home = tmp_path / "home"
    home.mkdir()
    env = dict(ws.env, HOME=str(home), DSB_PYTHON=sys.executable, DSB_ROOT=str(ws.root),
               DSB_FILE=ws.app, DSB_LINE=str(position.line + 1),
               DSB_COL=str(position.character), DSB_OUT=str(out), TERM="dumb")
    env.pop("EMACSLOADPATH", None)
    proc = subprocess.run(command(), env=env, cwd=str(ws.root), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=120, check=False)
    shown = out.read_text() if out.exists() else ""
    detail = f"exit {proc.returncode}\nstdout: {proc.stdout[-2000:]!r}\nstderr: {proc.stderr[-4000:]!r}"
    assert "total = 3" in shown, f"{editor} showed {shown!r}\n{detail}"
    assert "paused in `accumulate`" in shown
    assert proc.returncode == 0, detail
