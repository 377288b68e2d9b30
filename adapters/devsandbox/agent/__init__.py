"""The DevSandbox agent: runs inside the user's program and answers the server.

Standard library only, relative imports only, nothing heavy at import time.

- ``connect(host, port, token)``: the server listens, the agent connects (launch
  mode through ``start_from_env()``, attach-by-pid through injected code).
- ``serve(host, port, token)``: the agent listens and servers connect, each with
  the token (embedded mode).
- ``register(method, fn)`` adds a method; ``notify(method, params)`` sends a
  notification to every connected server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from . import wire
from .rpc import AGENT, Connection, RpcError, own_thread_idents, spawn

__all__ = [
    "RpcError",
    "close",
    "connect",
    "notify",
    "options",
    "own_thread_idents",
    "register",
    "serve",
    "spawn",
    "start_from_env",
]

_from_env: Connection | None = None


def connect(
    host: str,
    port: int,
    token: str,
    options: dict[str, Any] | None = None,
    *,
    parent: int | None = None,
    timeout: float = 10.0,
) -> Connection:
    """Connect to a server's agent listener, say hello and serve it on a hidden thread.

    Raises OSError when the server cannot be reached and RpcError when it
    refuses the hello (wrong token, other protocol version).
    """
    if parent is not None:
        AGENT.parent = parent
    return AGENT.connect(host, int(port), token, options, timeout)


def serve(host: str = "127.0.0.1", port: int = 0, token: str = "") -> tuple[str, int]:
    """Listen for servers (embedded mode); each must present ``token``.  Returns the address."""
    if not token:
        raise ValueError("serve() needs a non-empty token")
    return AGENT.serve(host, int(port), token)


def start_from_env() -> Connection | None:
    """Connect as told by DEVSANDBOX_AGENT / DEVSANDBOX_TOKEN / DEVSANDBOX_OPTIONS; no-op if unset.

    Child processes inherit the variables: their agent connects to the same
    server and names its parent (DEVSANDBOX_PARENT_PID, set here for them).
    """
    global _from_env
    if _from_env is not None and not _from_env.closed:
        return _from_env
    address = os.environ.get(wire.ENV_AGENT)
    token = os.environ.get(wire.ENV_TOKEN)
    if not address or not token:
        _record_without_server()
        return None
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{wire.ENV_AGENT}={address!r} is not host:port")
    raw_options = os.environ.get(wire.ENV_OPTIONS) or "{}"
    opts = json.loads(raw_options)
    if not isinstance(opts, dict):
        raise ValueError(f"{wire.ENV_OPTIONS} must hold a JSON object")
    parent_text = os.environ.get(wire.ENV_PARENT, "")
    parent = int(parent_text) if parent_text.isdigit() and int(parent_text) != os.getpid() else None
    if opts.get("record"):
        _start_recorder(opts)
    _from_env = connect(host.strip("[]"), int(port), token, opts, parent=parent)
    os.environ[wire.ENV_PARENT] = str(os.getpid())
    return _from_env


def register(method: str, fn: Callable[[Any], Any], *, concurrent: bool = False) -> None:
    """Answer ``method`` with ``fn(params)`` (params: the request's object, ``{}`` when absent).

    ``fn`` runs on an agent thread while the program keeps running; it must
    return something JSON-serialisable, and may raise RpcError(code, message).
    Requests of one connection are answered in order, except those of methods
    registered ``concurrent``, which run on a thread of their own (for slow work:
    injected calls, evaluation), so that they do not hold up the others.
    """
    AGENT.methods[method] = fn
    if concurrent:
        AGENT.concurrent.add(method)
    else:
        AGENT.concurrent.discard(method)


def notify(method: str, params: Any = None) -> int:
    """Send a notification to every connected server; returns how many got it."""
    return AGENT.notify(method, params)


def options() -> dict[str, Any]:
    """The agent options the server passed (launch configuration's "devsandbox" section)."""
    return AGENT.options


def close() -> None:
    """Close every connection and listener (the program keeps running)."""
    global _from_env
    AGENT.close()
    _from_env = None


def _lookup_value(params: Any) -> Any:
    from . import values  # imported on first use: the agent stays light at start

    return values.lookup(params)


register(wire.LOOKUP_VALUE, _lookup_value)


# -- the time-travel recorder (devsandbox.recorder): started before the program's first line ---

RECORDER_METHODS = ("recorder/status", "recorder/flush", "recorder/start", "recorder/stop",
                    "recorder/mark")


def _start_recorder(opts: dict[str, Any]) -> None:
    """Record the program as the options say ("record": true); a failure is one warning."""
    try:
        from ..recorder import control

        control.start_from_options(opts)
    except Exception as exc:  # noqa: BLE001  (never stop the user's program)
        import sys

        sys.stderr.write(f"devsandbox: warning: recording did not start in process "
                         f"{os.getpid()}: {type(exc).__name__}: {exc}\n")


def _record_without_server() -> None:
    """A child of `devsandbox record` (no server): record it if the options say so."""
    try:
        opts = json.loads(os.environ.get(wire.ENV_OPTIONS) or "{}")
    except ValueError:
        return
    if isinstance(opts, dict) and opts.get("record"):
        _start_recorder(opts)


def _recorder_method(method: str) -> Callable[[Any], Any]:
    def call(params: Any) -> Any:
        from ..recorder import control

        handlers: dict[str, Callable[[Any], Any]] = {
            control.STATUS: control.status,
            control.FLUSH: control.flush,
            control.START: lambda p: control.start_method(p, options()),
            control.STOP: control.stop_method,
            control.MARK: control.mark,
        }
        return handlers[method](params)

    return call


for _method in RECORDER_METHODS:
    register(_method, _recorder_method(_method))
del _method


# -- live state, injection and hot swap (agent/live/): live/<verb> methods, loaded on first use --
from . import live as _live  # noqa: E402

_live.install(register)

# -- experiments (agent/experiments/): experiment/<verb> methods, loaded on first use --------------
from . import experiments as _experiments  # noqa: E402

_experiments.install(register)
