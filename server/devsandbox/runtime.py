"""The per-user runtime directory where DevSandbox servers register themselves.

Each DAP server listening on TCP writes ``server-<pid>.json`` (mode 0600, in a
0700 directory) with its address and token, so that the language server and
the command line can find the sessions of a workspace.  Entries of processes
that are gone are removed whenever the directory is listed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from devsandbox.agent import wire


def directory() -> Path:
    """The per-user runtime directory (created 0700); embedded programs register there too."""
    path = Path(wire.registry_dir())
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (ours to signal or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def register_server(kind: str, host: str, port: int, token: str | None,
                    workspace: str | None = None) -> Path:
    entry = {
        "kind": kind, "pid": os.getpid(), "host": host, "port": port, "token": token,
        "workspace": workspace or os.getcwd(), "started": time.time(),
    }
    return _write_entry(directory() / f"server-{os.getpid()}-{port}.json", entry)


def register_session(host: str, port: int, token: str, roots: list[str],
                     program: str | None) -> Path:
    """Register a debug session's control endpoint (see dap/control.py)."""
    entry = {
        "kind": "dap-session", "pid": os.getpid(), "host": host, "port": port, "token": token,
        "roots": roots, "program": program, "started": time.time(),
    }
    return _write_entry(directory() / f"session-{os.getpid()}-{port}.json", entry)


def _write_entry(path: Path, entry: dict[str, Any]) -> Path:
    """Write a registry entry readable by the user only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(entry, f)
    return path


def unregister(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def servers(pattern: str = "server-*.json") -> list[dict[str, Any]]:
    """Registered servers that are still running; stale entries are deleted."""
    found = []
    for path in sorted(directory().glob(pattern)):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            unregister(path)
            continue
        if not isinstance(entry, dict) or not pid_alive(int(entry.get("pid", 0))):
            unregister(path)
            continue
        found.append(entry)
    return found


def sessions() -> list[dict[str, Any]]:
    """Live debug sessions' control endpoints."""
    return servers("session-*.json")
