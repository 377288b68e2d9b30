"""``values/lookup``: the value of a module global (or an attribute path) while the program runs.

The language server asks for it when the user hovers a name in a source file
and the program is not paused.  Runs on an agent thread; the program keeps
running.

- The module is found by its file (``sys.modules`` scan, real paths compared).
- ``a.b.c`` is resolved without running the program's code: module dictionaries
  and instance dictionaries are read directly and attributes found on a class
  go through ``inspect.getattr_static``; a property or any other descriptor
  that would run code is shown as such, not called.
- The value is shown by ``safe_repr``: built-in scalars and containers are
  rendered here (bounded in items, depth and characters); other objects get
  their own ``repr()`` only under a time budget (a trace function on this
  thread aborts it), and a default ``<Class object at 0x…>`` otherwise.
"""

from __future__ import annotations

import collections
import os
import sys
import time
import types
from typing import Any

from .modules import _module_dict, _snapshot_modules

MAX_REPR = 400  # characters of the rendered value
MAX_ITEMS = 30  # items per container
MAX_DEPTH = 4  # container nesting
REPR_BUDGET = 0.05  # seconds a user-defined __repr__ may run
MAX_INT_BITS = 4000  # larger ints are shown by size (str() of huge ints is slow)

_BUILTIN_CONTAINERS: tuple[type, ...] = (
    list, tuple, dict, set, frozenset, collections.deque, str, bytes, bytearray,
)

_module_by_file: dict[str, str] = {}  # real path -> module name (cache, checked on use)


class _Budget(Exception):
    """Raised inside user code by the trace function when the repr budget is spent."""


def lookup(params: Any) -> dict[str, Any]:
    """``{"file", "expression"}`` -> ``{"found": True, "value", "type", "size", "module"}``
    or ``{"found": False, "reason"}``.  Only names and attribute paths are accepted."""
    params = params if isinstance(params, dict) else {}
    file, expression = params.get("file"), params.get("expression")
    if not isinstance(file, str) or not isinstance(expression, str):
        return {"found": False, "reason": "lookup needs a file and an expression"}
    parts = expression.strip().split(".")
    if not all(p.isidentifier() for p in parts):
        return {"found": False, "reason": f"{expression!r} is not a name or attribute path"}
    found = module_for_file(file)
    if found is None:
        return {"found": False, "reason": f"no module of this program was loaded from {file}"}
    name, module = found
    namespace = _module_dict(module)
    if parts[0] not in namespace:
        return {"found": False, "reason": f"{parts[0]!r} is not a global of {name}"}
    value = namespace[parts[0]]
    for i, attr in enumerate(parts[1:], 1):
        ok, value = static_attribute(value, attr)
        if not ok:
            return {"found": False, "reason": f"{'.'.join(parts[: i + 1])}: {value}"}
    deadline = time.perf_counter() + _float(params.get("budget"), REPR_BUDGET)
    limit = int(_float(params.get("maxLength"), MAX_REPR))
    return {"found": True, "module": name, "value": safe_repr(value, limit, deadline),
            "type": type_name(type(value)), "size": size_of(value)}


def module_for_file(file: str) -> tuple[str, types.ModuleType] | None:
    wanted = os.path.realpath(file)
    cached = _module_by_file.get(wanted)
    if cached is not None:
        module = sys.modules.get(cached)
        if module is not None and _file_of(module) == wanted:
            return cached, module
    found: tuple[str, types.ModuleType] | None = None
    for name, module in _snapshot_modules():
        # __main__ and its runpy alias share a file: prefer the real __main__
        if _file_of(module) == wanted and (found is None or name == "__main__"):
            found = (name, module)
    if found is not None:
        _module_by_file[wanted] = found[0]
    return found


def _file_of(module: Any) -> str | None:
    if not issubclass(type(module), types.ModuleType):
        return None
    value = _module_dict(module).get("__file__")
    return os.path.realpath(value) if isinstance(value, str) else None


def static_attribute(obj: Any, name: str) -> tuple[bool, Any]:
    """(True, value) or (False, why), without calling properties or ``__getattr__``."""
    if issubclass(type(obj), types.ModuleType):
        namespace = _module_dict(obj)
        return (True, namespace[name]) if name in namespace else (False, "no such module global")
    import inspect

    try:
        raw = inspect.getattr_static(obj, name)
    except AttributeError:
        return False, "no such attribute (or computed by __getattr__)"
    kind = type(raw)
    if kind in (types.FunctionType, staticmethod, classmethod, types.BuiltinFunctionType,
                types.MethodDescriptorType, types.WrapperDescriptorType):
        return True, raw
    if kind in (types.MemberDescriptorType, types.GetSetDescriptorType):
        try:  # slots and C-level attributes: no Python code runs
            return True, raw.__get__(obj, type(obj))
        except AttributeError:
            return False, "not set"
    if isinstance(raw, property) or hasattr(type(raw), "__get__"):
        if _in_instance_dict(obj, name):
            return True, raw
        return False, f"computed by a {type_name(kind)} (not evaluated while the program runs)"
    return True, raw


def _in_instance_dict(obj: Any, name: str) -> bool:
    try:
        namespace = object.__getattribute__(obj, "__dict__")
    except (AttributeError, TypeError):
        return False
    return type(namespace) is dict and name in namespace


def type_name(t: type) -> str:
    module = t.__dict__.get("__module__") if type(t.__dict__) is types.MappingProxyType else None
    qual = t.__qualname__ if isinstance(getattr(t, "__qualname__", None), str) else t.__name__
    if not isinstance(module, str) or module == "builtins":
        return qual
    return f"{module}.{qual}"


def size_of(value: Any) -> int | None:
    """len() of built-in containers and strings (through the base type: no user __len__)."""
    for base in _BUILTIN_CONTAINERS:
        if isinstance(value, base):
            return int(base.__len__(value))  # type: ignore[attr-defined]
    return None


def safe_repr(value: Any, limit: int = MAX_REPR, deadline: float | None = None) -> str:
    if deadline is None:
        deadline = time.perf_counter() + REPR_BUDGET
    out: list[str] = []
    _render(value, out, [0], limit, deadline, 0, set())
    text = "".join(out)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _render(value: Any, out: list[str], used: list[int], limit: int, deadline: float,
            depth: int, seen: set[int]) -> None:
    def emit(text: str) -> None:
        out.append(text)
        used[0] += len(text)

    if used[0] > limit:
        return
    t = type(value)
    if t in (bool, float, complex, type(None), range) or value is Ellipsis:
        emit(repr(value))
    elif t is int:
        emit(repr(value) if value.bit_length() <= MAX_INT_BITS
             else f"<int of {value.bit_length()} bits>")
    elif t in (str, bytes, bytearray):
        emit(repr(value[: limit + 1]) + ("…" if len(value) > limit + 1 else ""))
    elif t in (list, tuple, set, frozenset, dict, collections.deque):
        if id(value) in seen or depth >= MAX_DEPTH:
            emit("[…]" if t is list else "{…}" if t in (dict, set) else "(…)")
            return
        seen.add(id(value))
        brackets = "()" if t is tuple else "{}" if t in (dict, set, frozenset) else "[]"
        if t is frozenset:
            emit("frozenset(")
        elif t is collections.deque:
            emit("deque(")
        if t in (set, frozenset) and not value:
            emit("" if t is frozenset else "set()")
            if t is frozenset:
                emit(")")
            seen.discard(id(value))
            return
        emit(brackets[0])
        items = list(dict.items(value)) if t is dict else list(value)  # a snapshot
        for i, item in enumerate(items[:MAX_ITEMS]):
            if i:
                emit(", ")
            if used[0] > limit:
                break
            if t is dict:
                _render(item[0], out, used, limit, deadline, depth + 1, seen)
                emit(": ")
                _render(item[1], out, used, limit, deadline, depth + 1, seen)
            else:
                _render(item, out, used, limit, deadline, depth + 1, seen)
        if len(items) > MAX_ITEMS:
            emit(f", … ({len(items) - MAX_ITEMS} more)")
        elif t is tuple and len(items) == 1:
            emit(",")
        emit(brackets[1])
        if t in (frozenset, collections.deque):
            emit(")")
        seen.discard(id(value))
    elif isinstance(value, types.ModuleType):
        emit(f"<module {_module_dict(value).get('__name__', '?')!s}>")
    elif t is types.FunctionType:
        emit(f"<function {value.__qualname__}>")
    elif isinstance(value, type):
        emit(f"<class {type_name(value)}>")
    else:
        emit(_user_repr(value, deadline))


def _user_repr(value: Any, deadline: float) -> str:
    """The object's own repr(), under the time budget; a default form if it fails or is slow."""
    t = type(value)
    fallback = f"<{type_name(t)} object at {id(value):#x}>"
    if getattr(t, "__repr__", None) is object.__repr__:
        return fallback
    if time.perf_counter() >= deadline:
        return fallback

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if time.perf_counter() >= deadline:
            raise _Budget
        if event == "call":
            frame.f_trace_opcodes = True  # a loop on one line sends no "line" events
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        text = repr(value)
    except _Budget:
        return fallback + " (repr took too long)"
    except Exception as exc:  # noqa: BLE001  (the program's repr failed: say so, keep going)
        return f"{fallback} (repr raised {type(exc).__name__})"
    finally:
        sys.settrace(previous)
    return text if isinstance(text, str) else fallback


def _float(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and \
        value > 0 else default
