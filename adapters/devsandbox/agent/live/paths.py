"""Paths to live objects: ``pkg.mod:NAME.attr[key][0]``, ``NAME…`` (a global of ``__main__``),
``pkg.mod:`` (the module itself) and ``$N…`` (an object handle from ``find`` or ``inspect``).

Accessors after the root are ``.attr`` and ``[literal]`` (any Python literal:
``['key']``, ``[0]``, ``[-1]``, ``[('a', 1)]``).  Resolving a path runs none of
the program's code: module and instance dictionaries are read directly,
attributes found on classes go through ``inspect.getattr_static`` (a property
is reported, not called) and items are read through the built-in types' own
methods (a ``defaultdict``'s factory is not called, a class's ``__getitem__``
is not run).
"""

from __future__ import annotations

import ast
import collections
import math
import operator
import re
import sys
import types
from dataclasses import dataclass
from typing import Any

from ..modules import _module_dict
from ..rpc import RpcError
from ..values import static_attribute
from .clients import ERR_INVALID, Client

_MISSING = object()
_HANDLE = re.compile(r"^\$(\d+)")
_LITERAL_KEYS = (str, int, float, bool, type(None), bytes)


@dataclass
class Step:
    kind: str  # "global" (key: name in the module dict), "attr", "item"
    key: Any


@dataclass
class Resolved:
    value: Any
    parent: Any  # the module dict, object or container holding the value (None for roots)
    step: Step | None  # how the value is reached from its parent
    path: str


def parse(path: str) -> tuple[str, Any, list[Step]]:
    """``(root kind, root, steps)``; root kind is "module" (root: its name) or "handle" (a number)."""
    text = path.strip()
    if not text:
        raise RpcError(ERR_INVALID, "empty path")
    match = _HANDLE.match(text)
    if match:
        rest = text[match.end():]
        steps = _accessors("_" + rest, path)[1:] if rest else []
        return "handle", int(match.group(1)), steps
    module, colon, rest = text.partition(":")
    if not colon:
        module, rest = "__main__", text
    module = module.strip()
    if not all(part.isidentifier() for part in module.split(".")):
        raise RpcError(ERR_INVALID, f"{module!r} is not a module name")
    if not rest.strip():
        return "module", module, []
    steps = _accessors(rest.strip(), path)
    steps[0] = Step("global", steps[0].key)
    return "module", module, steps


def _accessors(expr: str, path: str) -> list[Step]:
    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        raise RpcError(ERR_INVALID, f"cannot parse the path {path!r}") from None
    steps: list[Step] = []
    while True:
        if isinstance(node, ast.Name):
            steps.append(Step("attr", node.id))
            break
        if isinstance(node, ast.Attribute):
            steps.append(Step("attr", node.attr))
            node = node.value
        elif isinstance(node, ast.Subscript):
            try:
                key = ast.literal_eval(node.slice)
            except ValueError:
                raise RpcError(ERR_INVALID, f"{path!r}: only literal keys and indexes are allowed"
                               ) from None
            steps.append(Step("item", key))
            node = node.value
        else:
            raise RpcError(ERR_INVALID, f"{path!r} is not a path (NAME, .attr and [literal] only)")
    steps.reverse()
    return steps


def module_named(name: str) -> types.ModuleType:
    module = sys.modules.get(name)
    if module is None or not isinstance(module, types.ModuleType):
        raise RpcError(ERR_INVALID, f"no module {name!r} is loaded in the program")
    return module


def resolve(path: str, client: Client) -> Resolved:
    kind, root, steps = parse(path)
    return walk(root_of(kind, root, client), steps)


def root_of(kind: str, root: Any, client: Client) -> Resolved:
    if kind == "handle":
        return Resolved(client.resolve_handle(root), None, None, f"${root}")
    return Resolved(module_named(root), None, None, f"{root}:")


def walk(resolved: Resolved, steps: list[Step]) -> Resolved:
    for step in steps:
        resolved = child(resolved, step)
    return resolved


def child(parent: Resolved, step: Step) -> Resolved:
    obj = parent.value
    path = extend(parent.path, step)
    if step.kind == "global":
        namespace = _module_dict(obj)
        if step.key not in namespace:
            raise RpcError(ERR_INVALID, f"{path}: no such global")
        return Resolved(namespace[step.key], namespace, step, path)
    if step.kind == "attr":
        ok, value = static_attribute(obj, step.key)
        if not ok and isinstance(obj, dict) and dict.__contains__(obj, step.key):
            # CONFIG.limits on a dict: the key, as a convenience on the command line
            item = Step("item", step.key)
            return Resolved(dict.get(obj, step.key), obj, item, extend(parent.path, item))
        if not ok:
            raise RpcError(ERR_INVALID, f"{path}: {value}")
        value = _bind(obj, step.key, value)
        holder = _module_dict(obj) if isinstance(obj, types.ModuleType) else obj
        kind = "global" if isinstance(obj, types.ModuleType) else "attr"
        return Resolved(value, holder, Step(kind, step.key), path)
    value = get_item(obj, step.key, path)
    return Resolved(value, obj, step, path)


def _bind(obj: Any, name: str, raw: Any) -> Any:
    """What ``obj.name`` gives for functions found on the class: a bound method (no code runs)."""
    if isinstance(obj, types.ModuleType):
        return raw
    if isinstance(raw, staticmethod):
        return raw.__func__
    if isinstance(raw, classmethod):
        return types.MethodType(raw.__func__, obj if isinstance(obj, type) else type(obj))
    if type(raw) is types.FunctionType and not isinstance(obj, type):
        try:
            own = object.__getattribute__(obj, "__dict__")
        except (AttributeError, TypeError):
            own = None
        if not (type(own) is dict and name in own):
            return types.MethodType(raw, obj)
    return raw


def get_item(obj: Any, key: Any, path: str) -> Any:
    if isinstance(obj, dict):
        value = dict.get(obj, key, _MISSING)  # no __missing__, no subclass __getitem__
        if value is _MISSING:
            raise RpcError(ERR_INVALID, f"{path}: no such key")
        return value
    if isinstance(obj, types.MappingProxyType):
        value = obj.get(key, _MISSING)
        if value is _MISSING:
            raise RpcError(ERR_INVALID, f"{path}: no such key")
        return value
    bases: tuple[Any, ...] = (list, tuple, collections.deque)
    for base in bases:
        if isinstance(obj, base):
            if not isinstance(key, int) or isinstance(key, bool):
                raise RpcError(ERR_INVALID, f"{path}: a {base.__name__} needs an integer index")
            try:
                return base.__getitem__(obj, key)
            except IndexError:
                raise RpcError(ERR_INVALID, f"{path}: index out of range") from None
    raise RpcError(ERR_INVALID, f"{path}: a {type(obj).__qualname__} is not a dict, list, tuple "
                   "or deque (its own __getitem__ is not run)")


def extend(path: str, step: Step) -> str:
    if step.kind == "item":
        return f"{path}[{step.key!r}]"
    if path.endswith(":"):
        return path + str(step.key)
    return f"{path}.{step.key}"


def key_is_literal(key: Any) -> bool:
    if type(key) in _LITERAL_KEYS:
        return not (type(key) is float and math.isnan(key))  # nan cannot be written back
    if type(key) is tuple:
        return all(key_is_literal(k) for k in key)
    return False


def store_op(target: Resolved, value: Any) -> tuple[Any, ...]:
    """The C-level store that puts ``value`` where ``target`` was read from."""
    step = target.step
    if step is None:
        raise RpcError(ERR_INVALID, f"{target.path} is a root: it cannot be replaced")
    if step.kind == "global":
        return (operator.setitem, target.parent, step.key, value)
    if step.kind == "attr":
        return (setattr, target.parent, step.key, value)
    parent = target.parent
    if isinstance(parent, (tuple, types.MappingProxyType)):
        raise RpcError(ERR_INVALID, f"{target.path}: a {type(parent).__name__} is immutable")
    return (operator.setitem, parent, step.key, value)


def remove_op(target: Resolved) -> tuple[Any, ...]:
    """The C-level store that removes what ``target`` names (used to undo an addition)."""
    step = target.step
    assert step is not None
    if step.kind == "attr":
        return (delattr, target.parent, step.key)
    return (operator.delitem, target.parent, step.key)
