"""The VS Code extension (editors/vscode) in a real VS Code: code-server 4.100.3 in Debian's
Chromium, driven by playwright-core (tests/editors/vscode/drive.js) the way a user works.

One code-server serves the module; the extension is packaged with vsce (scripts/build-vsix)
and installed with --install-extension.  scripts/install-code-server installs and caches
code-server, playwright-core and Chromium.  Screenshots go to tests/editors/vscode/out/."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from editor_support import REPO, SAMPLE, editor_tests, kill_session, marker_line

HERE = Path(__file__).resolve().parent
OUT = HERE / "vscode" / "out"

pytestmark = [pytest.mark.editor, pytest.mark.slow, editor_tests, pytest.mark.timeout(600)]


def _setup(script: str) -> str:
    """Run one of the project's install scripts; its last line of output is the path."""
    try:
        done = subprocess.run([str(REPO / "scripts" / script)], capture_output=True, text=True,
                              timeout=900, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        done = None
        why = str(exc)
    if done is None or done.returncode != 0:
        why = why if done is None else done.stderr[-3000:]
        if os.environ.get("CI"):
            pytest.fail(f"scripts/{script} failed: {why}")
        pytest.skip(f"scripts/{script} failed (VS Code tests need npm, Chromium): {why}")
    return done.stdout.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CodeServer:
    url: str
    base: Path
    node_modules: Path
    env: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
def code_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodeServer]:
    if shutil.which("npm") is None or shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed for the VS Code tests")
        pytest.skip("node/npm not installed")
    node_modules = Path(_setup("install-code-server"))
    vsix = _setup("build-vsix")
    base = tmp_path_factory.mktemp("vscode")
    (base / "home").mkdir()
    (base / "run").mkdir(mode=0o700)
    user = base / "user" / "User"
    user.mkdir(parents=True)
    (user / "settings.json").write_text(json.dumps({
        "workbench.startupEditor": "none", "security.workspace.trust.enabled": False,
        "telemetry.telemetryLevel": "off", "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False, "workbench.tips.enabled": False,
        "devsandbox.python": sys.executable, "devsandbox.logFile": str(base / "devsandbox.log"),
    }))
    port = _free_port()
    (base / "config.yaml").write_text(f"bind-addr: 127.0.0.1:{port}\nauth: none\ncert: false\n")
    env = dict(os.environ, HOME=str(base / "home"), XDG_RUNTIME_DIR=str(base / "run"))
    command = [str(node_modules / ".bin" / "code-server"), "--config", str(base / "config.yaml"),
               "--user-data-dir", str(base / "user"), "--extensions-dir", str(base / "extensions")]
    subprocess.run(command + ["--install-extension", vsix], env=env, check=True, timeout=120,
                   capture_output=True, stdin=subprocess.DEVNULL)
    log = base / "code-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command + ["--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
                       "--disable-getting-started-override"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"code-server did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        yield CodeServer(url, base, node_modules, env, log)
    finally:
        kill_session(proc)


def workspace(server: CodeServer, name: str, configuration: dict) -> Path:
    folder = server.base / name
    (folder / ".vscode").mkdir(parents=True)
    shutil.copy(SAMPLE, folder / "app.py")
    (folder / ".vscode" / "launch.json").write_text(json.dumps(
        {"version": "0.2.0", "configurations": [configuration]}, indent=2))
    return folder


def drive(server: CodeServer, folder: Path, line: int) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    lines = (folder / "app.py").read_text().splitlines()
    config = {"url": server.url, "folder": str(folder), "file": str(folder / "app.py"),
              "line": line, "out": str(OUT), "chromium": shutil.which("chromium") or "chromium",
              "lineText": {str(n): text.strip() for n, text in enumerate(lines, 1)},
              "timelineFunction": "accumulate", "timelineLine": marker_line("total_init") - 1,
              "inspect": "SETTINGS", "inspectShows": "SETTINGS['retries']"}
    config_file = server.base / f"{folder.name}-drive.json"
    config_file.write_text(json.dumps(config))
    env = dict(server.env, NODE_PATH=str(server.node_modules))
    proc = subprocess.Popen(["node", str(HERE / "vscode" / "drive.js"), str(config_file)],
                            cwd=str(HERE / "vscode"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        kill_session(proc)
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        pytest.fail(f"drive.js exited {proc.returncode}: {stdout[-2000:]!r} {stderr[-3000:]!r}")
    (OUT / f"{folder.name}-report.json").write_text(json.dumps(report, indent=1))
    for chrome in OUT.glob("chrome-*"):
        shutil.rmtree(chrome, ignore_errors=True)
    return report


def test_f5_step_back_hover_and_code_lens(code_server: CodeServer) -> None:
    folder = workspace(code_server, "ws", {
        "type": "devsandbox", "request": "launch", "name": "DevSandbox: app (recorded)",
        "program": "${workspaceFolder}/app.py", "console": "internalConsole",
        "python": sys.executable, "devsandbox": {"record": True}})
    line = marker_line("loop_body")  # total += i
    report = drive(code_server, folder, line)
    steps = {s["name"]: s for s in report["steps"]}
    detail = json.dumps(report, indent=1)[-6000:] + "\n" + code_server.log.read_text()[-2000:]
    assert "error" not in report, detail

    assert steps["breakpoint"]["ok"], detail
    assert steps["stopped"]["ok"], detail  # "Paused on breakpoint", i = 0
    continued = steps["continued"]
    assert continued["ok"] and {"i = 3", "total = 3"} <= set(continued["variables"]), detail

    # The Step Back button of the debug toolbar: to the loop's `for` line (before i became 3),
    # then back to the previous time round the loop, with that time's values.
    assert steps["step back button"]["label"].startswith("Step Back"), detail
    first = steps["step back 1"]
    assert first["line"] == line - 1 and {"i = 2", "total = 3"} <= set(first["variables"]), detail
    assert first["frames"][0].startswith("accumulate"), detail
    second = steps["step back 2"]
    assert second["line"] == line and {"i = 2", "total = 1"} <= set(second["variables"]), detail

    # Hovers: the debug hover (evaluate, answered from the recording) and, holding Alt, the
    # language server's hover with the value at this step of the recording.
    assert steps["debug hover"]["text"].strip() == "1", detail
    hover = steps["lsp hover"]["text"]
    assert "total = 1" in hover and "of the recording" in hover, detail

    # Value History of the Selection: the values total took, as a quick pick; picking the
    # first one jumps to that step of the recording.
    history = steps["value history"]
    assert [h.split("step")[0] for h in history["history"]] == ["0", "1", "3"], detail
    assert history["ok"] and "total = 0" in history["variables"], detail

    # The language server's code lens with the recording's call count on accumulate().
    assert any(t.startswith("1 call") for t in steps["code lenses"]["lenses"]), detail

    # The timeline webview: the recorded calls, the current one marked; a click jumps to the
    # start of accumulate() (goto), where only n is set.
    timeline = steps["timeline"]
    assert timeline["ok"] and timeline["current"].startswith("accumulate"), detail
    assert [r.split("app.py")[0] for r in timeline["rows"]][-2:] == ["main", "accumulate"], detail
    assert timeline["where"].startswith("step "), detail
    goto = steps["timeline goto"]
    assert goto["ok"] and goto["variables"] == ["Locals", "n = 10", "Globals"], detail
    # Inspect a Live Value...: the agent's view of the program's SETTINGS dict, in the output
    assert steps["inspect"]["ok"] and '"repr": "3"' in steps["inspect"]["text"], detail
    assert steps["stopped debugging"]["ok"], detail
    assert (OUT / "vscode-step-back.png").stat().st_size > 10_000
