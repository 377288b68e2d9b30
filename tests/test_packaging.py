"""The wheel a user installs: its contents, and that it works from a fresh venv.

Builds the wheel from this checkout with pip (the hatchling build hook compiles
the C extension), installs it with its dependencies (pip's cache keeps this
quick) into a new venv, and uses it the way a user would: the command, ``python
-m devsandbox`` and a real DAP session through ``devsandbox dap``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from devsandbox.dapclient import DapClient

REPO = Path(__file__).resolve().parent.parent
BIN = "Scripts" if os.name == "nt" else "bin"

pytestmark = pytest.mark.slow


def clean_env() -> dict[str, str]:
    """The environment without anything that would point at this checkout."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSAFEPATH")}


def run(argv: list[str], timeout: float = 600, **kw) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=kw.pop("env", clean_env()), **kw)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)])
    wheels = list(out.glob("devsandbox-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its dependencies; returns its python."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / BIN / "python"
    run([str(python), "-m", "pip", "install", "-q", str(wheel)], cwd=str(env_dir))
    return python


def test_wheel_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    files = {n for n in names if not n.endswith("/")}
    # both roots merged into one devsandbox/ package
    for required in ("devsandbox/__init__.py", "devsandbox/__main__.py", "devsandbox/cli.py",
                     "devsandbox/agent/__init__.py", "devsandbox/agent/wire.py",
                     "devsandbox/dap/session.py", "devsandbox/commands/dap.py"):
        assert required in files, f"{required} missing from {wheel.name}"
    assert [n for n in files if n.startswith("devsandbox/_tracer") and n.endswith(".so")], \
        "the compiled C extension devsandbox/_tracer*.so is missing"
    sources = [n for n in files if n.endswith((".c", ".h"))]
    assert not sources, f"C sources shipped in the wheel: {sources}"
    strays = [n for n in files if n.split("/")[0] not in ("devsandbox",)
              and ".dist-info/" not in n]
    assert not strays, f"files outside devsandbox/: {strays}"
    assert not [n for n in files if "__pycache__" in n or n.endswith(".pyc")]
    # the bootstrap that a launched program starts the agent from
    if (REPO / "adapters/devsandbox/agent/_site/sitecustomize.py").exists():
        assert "devsandbox/agent/_site/sitecustomize.py" in files
    entry_points = next(n for n in files if n.endswith(".dist-info/entry_points.txt"))
    assert "devsandbox = devsandbox.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_command_and_module_report_the_version(installed: Path, tmp_path: Path) -> None:
    import devsandbox

    expected = f"devsandbox {devsandbox.__version__}"
    script = installed.parent / "devsandbox"
    assert run([str(script), "--version"], cwd=str(tmp_path)).stdout.strip() == expected
    assert run([str(installed), "-m", "devsandbox", "--version"],
               cwd=str(tmp_path)).stdout.strip() == expected


def test_installed_package_is_one_directory_in_site_packages(installed: Path,
                                                             tmp_path: Path) -> None:
    out = run([str(installed), "-c", "import devsandbox, devsandbox.agent, devsandbox._tracer, "
               "devsandbox.cli; print(*devsandbox.__path__, sep='\\n')"], cwd=str(tmp_path))
    paths = out.stdout.split()
    assert len(paths) == 1, paths
    assert "site-packages" in paths[0] and not paths[0].startswith(str(REPO)), paths


def test_dap_session_through_the_installed_server(installed: Path, tmp_path: Path) -> None:
    program = tmp_path / "hello.py"
    program.write_text("x = 6 * 7\nprint('hello from the debuggee', x)\n")
    with (tmp_path / "server-stderr.txt").open("w+") as stderr:
        client = DapClient([str(installed.parent / "devsandbox"), "dap"], cwd=str(tmp_path),
                           env=clean_env(), stderr=stderr)
        try:
            client.start("launch", {"program": str(program), "cwd": str(tmp_path),
                                    "console": "internalConsole", "justMyCode": True},
                         timeout=60)
            exited = client.event("exited", timeout=60)
            client.event("terminated", timeout=30)
            assert exited["body"]["exitCode"] == 0
            assert "hello from the debuggee 42" in client.output()
            client.request("disconnect", {}, check=False)
        except Exception as exc:
            stderr.seek(0)
            raise AssertionError(f"{exc}\n--- devsandbox dap stderr ---\n{stderr.read()}") from exc
        finally:
            client.close()


def test_demo_runs_from_the_installed_package(installed: Path, tmp_path: Path) -> None:
    """`devsandbox demo` as a user runs it after `pip install`: the demo program is in site-packages."""
    proc = subprocess.run([str(installed.parent / "devsandbox"), "demo"], cwd=str(tmp_path),
                          env=clean_env(), capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "Stopped" in proc.stdout
