"""Embedded mode: ``import devsandbox; devsandbox.listen(5678)`` inside the user's program.

``listen()`` starts debugpy (``debugpy.listen``) and the DevSandbox agent, which
listens on its own port (by default the debugpy port + 1).  The editor attaches
to the debugpy port through ``devsandbox dap`` with an attach configuration
``{"connect": {"host": ..., "port": ...}}``; the server then connects to the
agent.  The token that protects the agent's port is the ``token`` argument,
else ``$DEVSANDBOX_TOKEN``, else a fresh random one.  Every token is written to
a per-user registry file (see ``agent.wire.registry_file``) that the server
reads, so an attach configuration on the same machine needs neither the agent
port nor the token.

This module runs inside the user's program: standard library only, apart from
debugpy, which ``listen()`` imports when it is called.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import os
import secrets
import sys
import tempfile
import threading
import warnings
from typing import Any

from .agent import wire

__all__ = ["listen", "wait_for_client"]

_lock = threading.Lock()
_listening: dict[str, Any] | None = None  # what listen() started, once it has succeeded
_debugpy_address: tuple[str, int] | None = None  # kept when the agent failed to start


def listen(
    port: int = 5678,
    host: str = "127.0.0.1",
    *,
    token: str | None = None,
    agent_port: int | None = None,
    wait_for_client: bool = False,
) -> tuple[str, int]:
    """Start debugpy on ``(host, port)`` and the DevSandbox agent on ``(host, agent_port)``.

    Returns debugpy's ``(host, port)``, like ``debugpy.listen``.  ``agent_port``
    defaults to ``port + 1`` (or to a free port when ``port`` is 0).  A host
    other than loopback exposes the program to the network: it needs an
    explicit token (argument or ``$DEVSANDBOX_TOKEN``), which the attach
    configuration must repeat as ``"devsandbox": {"token": ..., "agentPort": ...}``
    (plus debugpy's ``pathMappings`` when the editor runs on another machine).
    With ``wait_for_client=True`` the call returns once a debugger is attached.
    If the agent cannot start (its port is taken), the error says so and a
    second call with another ``agent_port`` reuses debugpy's listener.
    """
    global _listening
    with _lock:
        if _listening is not None:
            raise RuntimeError(
                "devsandbox.listen() was already called in this process (debugpy listens on "
                f"{_listening['host']}:{_listening['port']}); call it only once"
            )
        token = _choose_token(host, token)
        debugpy = _import_debugpy()
        bound_host, bound_port = _listen_debugpy(debugpy, host, port)
        if agent_port is None:
            agent_port = bound_port + 1 if port else 0
        _, bound_agent_port = _start_agent(host, agent_port, token, bound_host, bound_port)
        _listening = {
            "pid": os.getpid(),
            "host": bound_host,
            "port": bound_port,
            "agent_port": bound_agent_port,
            "token": token,
            "python": sys.executable,
            "program": _program(),
        }
        _write_registry(_listening)
    if wait_for_client:
        debugpy.wait_for_client()
    return bound_host, bound_port


def wait_for_client() -> None:
    """Block until a debugger client is attached (delegates to ``debugpy.wait_for_client``)."""
    if _listening is None:
        raise RuntimeError("devsandbox.wait_for_client() needs devsandbox.listen() first")
    _import_debugpy().wait_for_client()


# -- helpers ---------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _choose_token(host: str, token: str | None) -> str:
    token = token or os.environ.get(wire.ENV_TOKEN) or None
    if token is None:
        if not _is_loopback(host):
            raise ValueError(
                f"devsandbox.listen(host={host!r}) makes the program reachable from other "
                "machines, so it needs a token: pass token=... (or set "
                f"{wire.ENV_TOKEN}) and put the same token in the attach configuration as "
                '"devsandbox": {"token": ..., "agentPort": ...}'
            )
        token = secrets.token_urlsafe(24)
    return token


def _import_debugpy() -> Any:
    try:
        import debugpy  # the one third-party import allowed on the adapters side
    except ImportError as exc:
        raise ImportError(
            "devsandbox.listen() needs debugpy installed in this program's environment: run "
            f"'{sys.executable} -m pip install debugpy'"
        ) from exc
    return debugpy


def _listen_debugpy(debugpy: Any, host: str, port: int) -> tuple[str, int]:
    """debugpy.listen, or the address it already listens on after a failed agent start."""
    global _debugpy_address
    if _debugpy_address is not None:
        if port not in (0, _debugpy_address[1]):
            raise RuntimeError(
                f"devsandbox.listen(): debugpy already listens on {_debugpy_address[0]}:"
                f"{_debugpy_address[1]} (an earlier call failed to start the agent); "
                "call it again with that port"
            )
        return _debugpy_address
    try:
        address = debugpy.listen((host, port))
    except Exception as exc:
        raise RuntimeError(
            f"devsandbox.listen(): debugpy could not listen on {host}:{port}: {exc}"
        ) from exc
    _debugpy_address = (str(address[0]), int(address[1]))
    return _debugpy_address


def _start_agent(
    host: str, agent_port: int, token: str, debug_host: str, debug_port: int
) -> tuple[str, int]:
    from . import agent

    try:
        return agent.serve(host, agent_port, token)
    except OSError as exc:
        raise RuntimeError(
            f"devsandbox.listen(): debugpy is listening on {debug_host}:{debug_port}, but the "
            f"DevSandbox agent could not listen on {host}:{agent_port} ({exc}); pass another "
            "agent_port=..."
        ) from exc


def _program() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else "")
    return os.path.abspath(path) if path else ""


# -- the registry ----------------------------------------------------------------------------


def _registry_dir() -> str | None:
    """Create (0700) and return the registry directory, or None if it is unsafe or unusable."""
    path = wire.registry_dir()
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        warnings.warn(
            f"devsandbox: cannot create the registry directory {path}: {exc}", stacklevel=4
        )
        return None
    if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.getuid():
        warnings.warn(
            f"devsandbox: not using {path}: it is not a directory of this user", stacklevel=4
        )
        return None
    if st.st_mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError:
            return None
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(directory: str) -> None:
    for name in os.listdir(directory):
        if not (
            name.startswith(wire.REGISTRY_FILE_PREFIX) and name.endswith(wire.REGISTRY_FILE_SUFFIX)
        ):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8") as f:
                pid = int(json.load(f)["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written, or not ours to judge
        if pid != os.getpid() and not _pid_alive(pid):
            try:
                os.unlink(path)
            except OSError:
                pass


def _write_registry(entry: dict[str, Any]) -> None:
    directory = _registry_dir()
    if directory is None:
        return
    _clean_stale(directory)
    path = wire.registry_file(entry["port"])
    fd, tmp = tempfile.mkstemp(prefix=".embedded-", suffix=".tmp", dir=directory)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(entry, f)
        os.replace(tmp, path)
    except OSError as exc:
        warnings.warn(f"devsandbox: cannot write {path}: {exc}", stacklevel=3)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return
    atexit.register(_remove_registry, path, entry["pid"])


def _remove_registry(path: str, pid: int) -> None:
    """At exit: remove our registry file, unless another program has taken its place."""
    if os.getpid() != pid:
        return  # a forked child exiting: the file belongs to its parent
    try:
        with open(path, encoding="utf-8") as f:
            if int(json.load(f).get("pid", -1)) != pid:
                return
        os.unlink(path)
    except (OSError, ValueError, TypeError, AttributeError):
        pass
