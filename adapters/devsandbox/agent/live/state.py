"""Read live state: ``inspect`` and ``find`` (changes are in ``changes.py``).

Reading runs none of the program's code except ``repr()`` of its objects, under
a time budget (``values.safe_repr``): attributes come from instance and class
dictionaries, items through the built-in types' own methods.
"""

from __future__ import annotations

import collections
import gc
import time
import types
from typing import Any

from ..modules import _module_dict
from ..rpc import RpcError
from ..values import safe_repr, size_of, static_attribute, type_name
from . import evaluate, runner
from .clients import ERR_FAILED, ERR_INVALID, Client, get, integer, need_str, number
from .paths import Step, extend, key_is_literal, resolve

PAGE = 100
MAX_PAGE = 1000
PAGE_BUDGET = 0.25  # seconds of repr() per page
FIND_BUDGET = 5.0


# -- reading -------------------------------------------------------------------------------------


def describe(value: Any, deadline: float, limit: int = 200) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": type_name(type(value)), "repr": safe_repr(value, limit, deadline),
                             "kind": kind_of(value)}
    size = size_of(value)
    if size is not None:
        entry["size"] = size
    entry["expandable"] = expandable(value)
    return entry


def kind_of(value: Any) -> str:
    for base, name in ((bool, "scalar"), (int, "scalar"), (float, "scalar"), (str, "str"),
                       (bytes, "bytes"), (dict, "dict"), (list, "list"), (tuple, "tuple"),
                       (set, "set"), (frozenset, "set"), (collections.deque, "deque"),
                       (types.ModuleType, "module"), (type, "class"),
                       (types.FunctionType, "function"), (types.MappingProxyType, "dict")):
        if isinstance(value, base):
            return name
    return "none" if value is None else "object"


def expandable(value: Any) -> bool:
    kind = kind_of(value)
    if kind in ("dict", "list", "tuple", "set", "deque"):
        return bool(size_of(value) or (len(value) if kind == "dict" else 0))
    if kind in ("module", "class"):
        return True
    if kind == "object":
        return bool(_instance_dict(value)) or bool(_slot_names(type(value)))
    return False


def _instance_dict(obj: Any) -> dict[str, Any] | None:
    try:
        namespace = object.__getattribute__(obj, "__dict__")
    except (AttributeError, TypeError):
        return None
    return namespace if type(namespace) is dict else None


def _slot_names(cls: type) -> list[str]:
    names: list[str] = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in ([slots] if isinstance(slots, str) else slots):
            if isinstance(name, str) and name not in ("__dict__", "__weakref__"):
                names.append(name)
    return names


def _snapshot_items(items_of: Any) -> list[Any]:
    for _attempt in range(20):
        try:
            return list(items_of())
        except RuntimeError:  # changed size while we copied: the program is busy, try again
            continue
    raise RpcError(ERR_FAILED, "the container kept changing while it was read")


def members(value: Any, dunder: bool = False) -> list[tuple[str, Step | None, Any]]:
    """(name shown, step from the value, member) for everything ``inspect`` lists."""
    kind = kind_of(value)
    out: list[tuple[str, Step | None, Any]] = []
    if kind == "dict":
        items = _snapshot_items(lambda: dict.items(value) if isinstance(value, dict)
                                else value.items())
        for key, item in items:
            out.append((safe_repr(key, 80), Step("item", key) if key_is_literal(key) else None,
                        item))
    elif kind in ("list", "tuple", "deque"):
        items = _snapshot_items(lambda: iter(value))
        out = [(str(i), Step("item", i), item) for i, item in enumerate(items)]
    elif kind == "set":
        items = _snapshot_items(lambda: iter(value))
        out = [(safe_repr(item, 80), None, item) for item in items]
    elif kind == "module":
        items = _snapshot_items(lambda: _module_dict(value).items())
        out = [(k, Step("global", k), v) for k, v in items
               if isinstance(k, str) and (dunder or not k.startswith("__"))]
    elif kind in ("class", "object"):
        if kind == "class":
            items = _snapshot_items(lambda: value.__dict__.items())
        else:
            items = _snapshot_items(lambda: (_instance_dict(value) or {}).items())
            for name in _slot_names(type(value)):
                ok, slot_value = static_attribute(value, name)
                if ok:
                    items.append((name, slot_value))
        out = [(k, Step("attr", k), v) for k, v in items
               if isinstance(k, str) and (dunder or not k.startswith("__"))]
    return out


def inspect(params: dict[str, Any]) -> dict[str, Any]:
    client = get(params)
    target = resolve(need_str(params, "path"), client)
    start = integer(params, "start", 0, 0, 10**9)
    count = integer(params, "count", PAGE, 0, MAX_PAGE)
    deadline = time.perf_counter() + number(params, "budget", PAGE_BUDGET, 0.001, 10)
    value = target.value
    answer = describe(value, deadline, integer(params, "maxLength", 400, 10, 100_000))
    answer.update(path=target.path, id=hex(id(value)))
    if params.get("handle"):
        answer["handle"] = client.handle_for(value)
    listed = members(value, bool(params.get("dunder")))
    text_filter = params.get("filter")
    if isinstance(text_filter, str) and text_filter:
        listed = [m for m in listed if text_filter.lower() in m[0].lower()]
    where = params.get("where")
    if isinstance(where, str) and where.strip():
        listed = _where(listed, where, params, client)
    answer["total"] = len(listed)
    answer["start"] = start
    page = listed[start:start + count]
    children = []
    for name, step, item in page:
        entry = describe(item, deadline, 120)
        entry["name"] = name
        if step is not None:
            entry["path"] = extend(target.path, step)
        elif entry["expandable"]:
            entry["path"] = client.handle_for(item)
        children.append(entry)
    answer["children"] = children
    answer["more"] = start + len(page) < len(listed)
    return answer


def _where(listed: list[tuple[str, Step | None, Any]], source: str, params: dict[str, Any],
           client: Client) -> list[tuple[str, Step | None, Any]]:
    """Filtered view: keep the members for which ``(lambda key, value: …)`` is true."""
    from . import scanner

    scanner.guard(source, params, "filter")
    test = evaluate.callable_from(source, params, client, "filter")
    keys = [(step.key if step is not None else name) for name, step, _ in listed]

    def pick() -> list[int]:
        return [i for i, (key, (_, _, value)) in enumerate(zip(keys, listed)) if test(key, value)]

    run = runner.run_in_thread(pick, kind="filter", client=client.name,
                               timeout=number(params, "timeout", 10.0, 0.01))
    if run.error is not None or not run.done.is_set():
        outcome = run.outcome()
        raise RpcError(ERR_INVALID, f"the filter failed: {outcome.get('error') or outcome['status']}")
    return [listed[i] for i in run.result]


def find(params: dict[str, Any]) -> dict[str, Any]:
    """Instances of a class, through the garbage collector's list of objects."""
    client = get(params)
    wanted = need_str(params, "type")
    subclasses = bool(params.get("subclasses", True))
    start = integer(params, "start", 0, 0, 10**9)
    count = integer(params, "count", PAGE, 0, MAX_PAGE)
    cls: type | None = None
    if ":" in wanted or wanted.startswith("$"):
        cls = resolve(wanted, client).value
        if not isinstance(cls, type):
            raise RpcError(ERR_INVALID, f"{wanted} is a {type_name(type(cls))}, not a class")
    deadline = time.perf_counter() + number(params, "budget", FIND_BUDGET, 0.01, 60)
    found: list[Any] = []
    complete = True
    objects = gc.get_objects()
    try:
        for index, obj in enumerate(objects):
            if index % 4096 == 0 and time.perf_counter() > deadline:
                complete = False
                break
            kind = type(obj)
            if cls is not None:
                if kind is cls or (subclasses and isinstance(obj, cls) and kind is not type):
                    found.append(obj)
            elif kind.__qualname__ == wanted or kind.__name__ == wanted or \
                    f"{kind.__module__}.{kind.__qualname__}" == wanted:
                found.append(obj)
    finally:
        del objects
    deadline = time.perf_counter() + PAGE_BUDGET
    items = []
    for obj in found[start:start + count]:
        entry = describe(obj, deadline, 200)
        entry["path"] = client.handle_for(obj)
        entry["id"] = hex(id(obj))
        items.append(entry)
    return {"type": type_name(cls) if cls is not None else wanted, "total": len(found),
            "start": start, "items": items, "complete": complete}
