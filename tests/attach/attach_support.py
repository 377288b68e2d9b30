"""Helpers for the attach tests (imported by the tests and by conftest.py)."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EMBEDDED = str(HERE / "embedded_program.py")
PLAIN = str(HERE / "pid_program.py")


def marker_line(path: str, marker: str) -> int:
    for number, text in enumerate(Path(path).read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# @{marker}"):
            return number
    raise LookupError(f"no @{marker} in {path}")


def free_port_pair() -> int:
    """A port P such that P and P + 1 are both free on loopback (for debugpy and the agent)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no pair of free ports")


@functools.cache
def other_python() -> tuple[str, str] | None:
    """(version, path) of a CPython other than the one running the tests, if one is installed.

    Attach-by-pid needs nothing installed in the target, so a bare interpreter will do.
    """
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    home = os.path.expanduser("~")
    candidates = {
        "3.11": [
            os.environ.get("DEVSANDBOX_PYTHON311"),
            "/usr/bin/python3.11",
            *sorted(glob.glob(f"{home}/.pyenv/versions/3.11*/bin/python3.11")),
            shutil.which("python3.11"),
        ],
        "3.13": [
            os.environ.get("DEVSANDBOX_PYTHON313"),
            f"{home}/.cache/devsandbox-pythons/cpython-3.13/bin/python3.13",
            *sorted(glob.glob(f"{home}/.pyenv/versions/3.13*/bin/python3.13")),
            shutil.which("python3.13"),
        ],
    }
    for version, paths in candidates.items():
        if version == mine:
            continue
        for path in paths:
            if path and os.access(path, os.X_OK) and _reports_version(path, version):
                return version, path
    return None


def _version_of(path: str) -> str | None:
    try:
        return (
            subprocess.run(
                [path, "-I", "-c", "import sys; print(*sys.version_info[:2], sep='.')"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def _reports_version(path: str, version: str) -> bool:
    return _version_of(path) == version


def target_pythons() -> list:
    """pytest params: this interpreter, and the other supported one when it is installed."""
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    params = [pytest.param(sys.executable, id=f"target-{mine}")]
    other = other_python()
    if other is not None:
        params.append(pytest.param(other[1], id=f"target-{other[0]}"))
    else:
        params.append(
            pytest.param(
                None, id="target-other", marks=pytest.mark.skip(reason="no other CPython installed")
            )
        )
    return params


def old_python() -> str | None:
    """A CPython older than DevSandbox supports (3.10 or earlier), for the version check."""
    home = os.path.expanduser("~")
    for path in [
        *sorted(glob.glob(f"{home}/.pyenv/versions/3.1[0]*/bin/python3.1[0]")),
        *sorted(glob.glob(f"{home}/.pyenv/versions/3.[6-9]*/bin/python3.[6-9]")),
        shutil.which("python3.10"),
        shutil.which("python3.9"),
    ]:
        if (
            path
            and os.access(path, os.X_OK)
            and _version_of(path) in ("3.10", "3.9", "3.8", "3.7", "3.6")
        ):
            return path
    return None
