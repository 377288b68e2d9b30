"""Live capture: the arguments of the next N calls of a function in the running program.

The function is wrapped (on its owner and wherever a module global aliases it)
until N calls were seen or the time is up, then put back.  Each call's
arguments are pickled before the call runs, so later mutation does not change
what was captured; arguments that cannot be pickled are kept in this
process's memory (usable by in-process runs here) and reported as such.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from typing import Any

from ..rpc import RpcError
from ..values import safe_repr
from . import inputs
from . import target as targets

ERR_INVALID = -32602
_captures = itertools.count(1)


def capture(params: dict[str, Any]) -> dict[str, Any]:
    spec = params.get("target")
    count = params.get("count", 10)
    timeout = params.get("timeout", 30.0)
    if not isinstance(spec, str):
        raise RpcError(ERR_INVALID, "capture needs 'target' (module:qualname)")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
        raise RpcError(ERR_INVALID, "'count' must be an integer between 1 and 10000")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
        raise RpcError(ERR_INVALID, "'timeout' must be a number of seconds up to 3600")
    prefix = f"cap{next(_captures)}"
    captured: list[dict[str, Any]] = []
    lock = threading.Lock()
    done = threading.Event()

    def wrap(target: targets.Target) -> Any:
        original = target.function

        @functools.wraps(original)
        def capturing(*args: Any, **kwargs: Any) -> Any:
            with lock:
                take = len(captured) < count
                index = len(captured)
                if take:
                    captured.append({})  # reserve the slot
            if take:
                captured[index] = _entry(f"{prefix}-{index + 1}", args, kwargs)
                if index + 1 >= count:
                    done.set()
            return original(*args, **kwargs)

        return targets.as_attribute(target, capturing)

    try:
        patch = targets.patch_for(spec, wrap, params.get("file"))
    except targets.TargetError as exc:
        raise RpcError(ERR_INVALID, str(exc)) from None
    started = time.monotonic()
    patch.apply()
    try:
        done.wait(float(timeout))
    finally:
        patch.restore()
    with lock:
        got = [c for c in captured if c]
    return {"target": spec, "inputs": got, "count": len(got), "wanted": count,
            "timedOut": len(got) < count, "seconds": round(time.monotonic() - started, 3),
            "file": _file(spec, params.get("file"))}


def _file(spec: str, file: Any) -> str | None:
    try:
        return targets.resolve(spec, file).file
    except targets.TargetError:
        return None


def _entry(ident: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    shown = ", ".join([safe_repr(a, 200) for a in args]
                      + [f"{k}={safe_repr(v, 200)}" for k, v in kwargs.items()])
    entry: dict[str, Any] = {"id": ident, "repr": shown, "source": {"kind": "capture",
                                                                    "time": time.time()}}
    try:
        entry["pickle"] = inputs.encode_call(args, kwargs)
    except Exception as exc:  # noqa: BLE001  (not picklable: keep the objects here)
        import copy

        try:
            kept = (copy.deepcopy(args), copy.deepcopy(kwargs))
        except Exception:  # noqa: BLE001
            kept = (args, dict(kwargs))
        inputs.REFS[ident] = kept
        entry["ref"] = ident
        entry["note"] = (f"not picklable ({type(exc).__name__}: {exc}); kept in the program's "
                         "memory for in-process runs there")
    return entry
