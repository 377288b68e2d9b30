"""Who is asking: per-client state (safety level, evaluation namespace, object handles).

A client is named by the ``client`` string of each request (the DAP server
sends ``dap:<its pid>``, the command line ``cli:<user>``).  Its state lives as
long as the program: a namespace survives between ``devsandbox eval`` runs.
"""

from __future__ import annotations

import builtins
import itertools
import threading
import weakref
from typing import Any

from ..rpc import RpcError

ERR_INVALID = -32602
ERR_REFUSED = -32010  # the safety policy refused the code
ERR_FAILED = -32000

LEVELS = ("strict", "normal", "permissive")
DEFAULT_LEVEL = "normal"
MAX_HANDLES = 10_000


class Client:
    def __init__(self, name: str) -> None:
        self.name = name
        self.level: str | None = None  # None: the agent's default
        self.namespace: dict[str, Any] = {"__builtins__": _MainFallback(vars(builtins)),
                                          "__name__": "__devsandbox__"}
        self._handles: dict[int, Any] = {}  # number -> weakref or the object itself
        self._numbers = itertools.count(1)
        self.lock = threading.RLock()

    def handle_for(self, obj: Any) -> str:
        """A ``$N`` handle naming ``obj`` in later paths (weak when the object allows it)."""
        with self.lock:
            number = next(self._numbers)
            try:
                self._handles[number] = weakref.ref(obj)
            except TypeError:
                self._handles[number] = _Strong(obj)
            while len(self._handles) > MAX_HANDLES:
                del self._handles[next(iter(self._handles))]
            return f"${number}"

    def resolve_handle(self, number: int) -> Any:
        with self.lock:
            ref = self._handles.get(number)
        if ref is None:
            raise RpcError(ERR_INVALID, f"${number} is not a handle of this client")
        obj = ref()
        if obj is None:
            raise RpcError(ERR_INVALID, f"${number}: the object no longer exists")
        return obj


class _MainFallback(dict):  # type: ignore[type-arg]
    """A client namespace's builtins: the real ones, then the globals of ``__main__``.

    Names the client assigns stay in its namespace; names it only reads come
    from the program's main module (``CONFIG`` in eval is the program's).
    Global lookups reach a non-exact dict through ``__getitem__``, so
    ``__missing__`` runs on a miss.
    """

    def __missing__(self, name: str) -> Any:
        import sys

        main = sys.modules.get("__main__")
        namespace = getattr(main, "__dict__", None)
        if isinstance(namespace, dict) and name in namespace:
            return namespace[name]
        raise KeyError(name)


class _Strong:
    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __call__(self) -> Any:
        return self.obj


_clients: dict[str, Client] = {}
_lock = threading.Lock()


def client_name(params: dict[str, Any]) -> str:
    name = params.get("client")
    return name if isinstance(name, str) and name else "anonymous"


def get(params: dict[str, Any]) -> Client:
    name = client_name(params)
    with _lock:
        client = _clients.get(name)
        if client is None:
            client = _clients[name] = Client(name)
        return client


def level_of(params: dict[str, Any]) -> str:
    client = get(params)
    if client.level is not None:
        return client.level
    from .. import options

    configured = options().get("safety")
    return configured if configured in LEVELS else DEFAULT_LEVEL


def set_safety(params: dict[str, Any]) -> dict[str, Any]:
    level = params.get("level")
    if level not in LEVELS:
        raise RpcError(ERR_INVALID, f"the safety level must be one of {', '.join(LEVELS)}")
    client = get(params)
    previous = level_of(params)
    client.level = level
    from . import audit

    audit.write({"action": "setSafety", "client": client.name, "level": level,
                 "previous": previous})
    return {"level": level, "previous": previous}


# -- parameter helpers --------------------------------------------------------------------------


def need_str(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RpcError(ERR_INVALID, f"'{key}' must be a non-empty string")
    return value


def number(params: dict[str, Any], key: str, default: float, low: float = 0.0,
           high: float = 3600.0) -> float:
    value = params.get(key, default)
    if value is None:
        return default
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise RpcError(ERR_INVALID, f"'{key}' must be a number between {low:g} and {high:g}")
    return float(value)


def integer(params: dict[str, Any], key: str, default: int, low: int = 0,
            high: int = 1_000_000) -> int:
    value = params.get(key, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RpcError(ERR_INVALID, f"'{key}' must be an integer between {low} and {high}")
    return value
