"""Change live state: ``set``, ``rollback``, ``transform``, ``backup``, ``restore`` and
``changes`` (reading is in ``state.py``).

Every change

1. is planned first: the new values are computed and the stores listed as
   C-level operations (``atomic``); the schema check, when asked, happens here;
2. is backed up: the old value (``replace``) or a shallow copy of every
   container the change touches (``deep_merge``, ``partial_update``,
   ``transform``, ``restore``), which also keeps the old values alive;
3. is applied as one step with respect to the program's other threads;
4. is written to the audit log with its change id, old and new safe repr;
5. can be rolled back by that id (the backup is restored the same way).

Merge strategies for ``set``:

- ``replace``: the value at the path is replaced (the only strategy that can
  create a new key, attribute or global);
- ``partial_update``: the top-level keys (dict), attributes (object) or
  indexes (list) given are replaced, the others kept;
- ``deep_merge``: like partial_update, recursively: where both the old and the
  new value are dicts (or the old one an object with attributes), they merge,
  in place, so that references to the nested containers see the change.

``schema: true`` asks for a check before anything changes: every replaced
value keeps its type (int and float count as one), a replaced dict keeps its
keys, and a merge adds no key that was not there.
"""

from __future__ import annotations

import collections
import itertools
import operator
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Any

from ..modules import _module_dict
from ..rpc import RpcError
from ..values import safe_repr, static_attribute, type_name
from . import atomic, audit, evaluate, runner
from .clients import ERR_FAILED, ERR_INVALID, Client, get, integer, need_str, number
from .paths import Resolved, Step, child, extend, parse, remove_op, resolve, root_of, store_op, walk
from .state import _instance_dict, kind_of

STRATEGIES = ("replace", "deep_merge", "partial_update")
MAX_BACKUP_CONTAINERS = 200_000
MAX_CHANGES = 1000

_MISSING = object()


# -- changes -------------------------------------------------------------------------------------


@dataclass
class Change:
    change_id: str
    action: str
    path: str
    client: str
    old: str
    new: str
    undo: list[tuple[Any, ...]]
    keep: Any  # old values kept alive (the backup)
    target: Resolved | None = None
    saves_value: bool = False  # keep is the old value (replace), else (container, copy) pairs
    time: float = field(default_factory=time.time)
    rolled_back: str | None = None  # the id of the change that rolled this one back

    def summary(self) -> dict[str, Any]:
        return {"change": self.change_id, "action": self.action, "path": self.path,
                "client": self.client, "old": self.old, "new": self.new, "time": self.time,
                "rolledBack": self.rolled_back}


_changes: collections.OrderedDict[str, Change] = collections.OrderedDict()
_changes_lock = threading.Lock()
_numbers = itertools.count(1)
_backups: dict[str, tuple[str, list[tuple[Any, Any]]]] = {}


def _new_id(prefix: str) -> str:
    import os

    return f"{prefix}{os.getpid()}-{next(_numbers)}"


def _record(change: Change, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    with _changes_lock:
        _changes[change.change_id] = change
        while len(_changes) > MAX_CHANGES:
            _changes.popitem(last=False)
    entry = {"action": change.action, "client": change.client, "change": change.change_id,
             "path": change.path, "old": change.old, "new": change.new}
    entry.update(extra or {})
    audit.write(entry)
    answer = change.summary()
    answer.update(extra or {})
    return answer


def _repr(value: Any) -> str:
    return safe_repr(value, 400, time.perf_counter() + 0.05)


# container snapshots: (container, shallow copy) pairs, restored in place


def _copy_of(container: Any) -> Any:
    if isinstance(container, dict):
        return dict(dict.items(container))
    if isinstance(container, (list, collections.deque, set)):
        return list(container)
    raise TypeError(type(container))


def _restore_ops(saved: list[tuple[Any, Any]]) -> list[tuple[Any, ...]]:
    ops: list[tuple[Any, ...]] = []
    for container, copy in saved:
        if isinstance(container, dict):
            ops += [(dict.clear, container), (dict.update, container, copy)]
        elif isinstance(container, list):
            ops.append((list.__setitem__, container, slice(None), copy))
        elif isinstance(container, collections.deque):
            ops += [(collections.deque.clear, container), (collections.deque.extend, container, copy)]
        elif isinstance(container, set):
            ops += [(set.clear, container), (set.update, container, copy)]
    return ops


def snapshot_tree(root: Any) -> list[tuple[Any, Any]]:
    """Shallow copies of every built-in container and instance dict reachable from ``root``."""
    saved: list[tuple[Any, Any]] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        holder = obj if isinstance(obj, (dict, list, collections.deque, set)) else \
            _instance_dict(obj) if kind_of(obj) == "object" else None
        if holder is None:
            continue
        copy = _copy_of(holder)
        saved.append((holder, copy))
        if len(saved) > MAX_BACKUP_CONTAINERS:
            raise RpcError(ERR_FAILED, f"more than {MAX_BACKUP_CONTAINERS} containers to back up")
        stack.extend(copy.values() if isinstance(copy, dict) else copy)
    return saved


def _same_type(old: Any, new: Any) -> bool:
    number_types = (int, float)
    if isinstance(old, number_types) and isinstance(new, number_types) and \
            not isinstance(old, bool) and not isinstance(new, bool):
        return True
    if isinstance(old, (list, tuple)) and isinstance(new, list):
        return True  # JSON has no tuples
    return type(old) is type(new)


def _check_replace(path: str, old: Any, new: Any) -> None:
    if old is _MISSING:
        raise RpcError(ERR_INVALID, f"schema: {path} does not exist")
    if not _same_type(old, new):
        raise RpcError(ERR_INVALID, f"schema: {path} is a {type_name(type(old))}, the new value "
                       f"a {type_name(type(new))}")
    if isinstance(old, dict) and set(dict.keys(old)) != set(new):
        missing = sorted(map(str, set(dict.keys(old)) - set(new)))
        extra = sorted(map(str, set(new) - set(dict.keys(old))))
        raise RpcError(ERR_INVALID, f"schema: {path} keys differ (missing {missing}, new {extra})")


class _Plan:
    def __init__(self, schema: bool) -> None:
        self.schema = schema
        self.ops: list[tuple[Any, ...]] = []
        self.touched: list[Any] = []  # containers (or instance dicts) the ops change


def _plan_merge(plan: _Plan, target: Any, patch: Any, path: str, deep: bool) -> None:
    if not isinstance(patch, dict):
        raise RpcError(ERR_INVALID, f"{path}: a merge needs an object of keys to change")
    if isinstance(target, dict):
        plan.touched.append(target)
        for raw_key, new in patch.items():
            key = _dict_key(target, raw_key)
            old = dict.get(target, key, _MISSING)
            here = f"{path}[{key!r}]"
            if deep and isinstance(new, dict) and old is not _MISSING and _mergeable(old):
                _plan_merge(plan, old, new, here, deep)
                continue
            if plan.schema:
                _check_replace(here, old, new)
            plan.ops.append((operator.setitem, target, key, new))
    elif isinstance(target, list):
        plan.touched.append(target)
        for raw_key, new in patch.items():
            index = int(raw_key) if isinstance(raw_key, (int, str)) and \
                str(raw_key).lstrip("-").isdigit() else None
            if index is None or not -len(target) <= index < len(target):
                raise RpcError(ERR_INVALID, f"{path}: {raw_key!r} is not an index of the list")
            old, here = list.__getitem__(target, index), f"{path}[{index}]"
            if deep and isinstance(new, dict) and _mergeable(old):
                _plan_merge(plan, old, new, here, deep)
                continue
            if plan.schema:
                _check_replace(here, old, new)
            plan.ops.append((operator.setitem, target, index, new))
    elif _instance_dict(target) is not None and kind_of(target) == "object":
        plan.touched.append(target)
        for name, new in patch.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise RpcError(ERR_INVALID, f"{path}: {name!r} is not an attribute name")
            ok, old = static_attribute(target, name)
            here = f"{path}.{name}"
            if deep and ok and isinstance(new, dict) and _mergeable(old):
                _plan_merge(plan, old, new, here, deep)
                continue
            if plan.schema:
                _check_replace(here, old if ok else _MISSING, new)
            plan.ops.append((setattr, target, name, new))
    else:
        raise RpcError(ERR_INVALID, f"{path}: a {type_name(type(target))} cannot be merged into "
                       "(dicts, lists and objects with attributes can)")


def _mergeable(value: Any) -> bool:
    return isinstance(value, (dict, list)) or (
        kind_of(value) == "object" and _instance_dict(value) is not None)


def _dict_key(target: dict[Any, Any], key: Any) -> Any:
    """JSON keys are strings: "3" means 3 when the dict has the int key and not the string."""
    if isinstance(key, str) and key not in target and key.lstrip("-").isdigit() and \
            int(key) in target:
        return int(key)
    return key


def set_value(params: dict[str, Any]) -> dict[str, Any]:
    client = get(params)
    path = need_str(params, "path")
    strategy = params.get("strategy", "replace")
    if strategy not in STRATEGIES:
        raise RpcError(ERR_INVALID, f"'strategy' must be one of {', '.join(STRATEGIES)}")
    schema = bool(params.get("schema"))
    target = _resolve_for_set(path, client, strategy)
    new, scan = evaluate.value_from(params, client, "set")
    if strategy == "replace":
        old = target.value
        if schema:
            _check_replace(target.path, old, new)
        op = store_op(target, new)
        undo = [store_op(target, old)] if old is not _MISSING else [remove_op(target)]
        atomic.apply_or_undo([op], undo)
        keep: Any = old
        now = _current(target)
    else:
        plan = _Plan(schema)
        _plan_merge(plan, target.value, new, target.path, strategy == "deep_merge")
        saved = [(h, _copy_of(h)) for h in _holders(plan.touched)]
        old_text = _repr(target.value)
        undo = _restore_ops(saved)
        atomic.apply_or_undo(plan.ops, undo)
        keep, old, now = saved, None, target.value
    change = Change(_new_id("c"), "set", target.path, client.name,
                    (_repr(old) if old is not _MISSING else "<did not exist>")
                    if strategy == "replace" else old_text, _repr(now), undo, keep,
                    target, saves_value=strategy == "replace")
    extra = {"strategy": strategy, "created": strategy == "replace" and old is _MISSING}
    if scan:
        extra["scan"] = scan
    return _record(change, extra)


def _current(target: Resolved) -> Any:
    """The value now at the target's place (re-read: a setter may have stored something else)."""
    try:
        parent = Resolved(target.parent, None, None, "")
        if target.step is None:
            return target.value
        if target.step.kind == "global":
            return target.parent.get(target.step.key)
        return child(parent, target.step).value
    except RpcError:
        return _MISSING


def _holders(touched: list[Any]) -> list[Any]:
    holders: list[Any] = []
    seen: set[int] = set()
    for obj in touched:
        holder = obj if isinstance(obj, (dict, list)) else _instance_dict(obj)
        if holder is not None and id(holder) not in seen:
            seen.add(id(holder))
            holders.append(holder)
    return holders


def _resolve_for_set(path: str, client: Client, strategy: str) -> Resolved:
    """Resolve the path; with replace, the last step may name something that does not exist."""
    try:
        return resolve(path, client)
    except RpcError as exc:
        if strategy != "replace":
            raise
        error = exc
    kind, root, steps = parse(path)
    if not steps:
        raise error
    parent = walk(root_of(kind, root, client), steps[:-1])
    last, holder = steps[-1], parent.value
    if last.kind == "global" or (last.kind == "attr" and isinstance(holder, types.ModuleType)):
        return Resolved(_MISSING, _module_dict(holder), Step("global", last.key),
                        extend(parent.path, last))
    if last.kind == "item" and not isinstance(holder, dict):
        raise error
    if last.kind == "attr" and kind_of(holder) != "object":
        raise error
    return Resolved(_MISSING, holder, last, extend(parent.path, last))


def rollback(params: dict[str, Any]) -> dict[str, Any]:
    client = get(params)
    change_id = need_str(params, "change")
    with _changes_lock:
        change = _changes.get(change_id)
    if change is None:
        raise RpcError(ERR_INVALID, f"no change {change_id!r} in this process (or too old)")
    if change.rolled_back:
        raise RpcError(ERR_INVALID, f"{change_id} was already rolled back by {change.rolled_back}")
    target = change.target
    if change.saves_value:
        assert target is not None
        now = _current(target)
        redo = [store_op(target, now)] if now is not _MISSING else [remove_op(target)]
        keep: Any = now
        before = _repr(now)
    else:
        keep = [(container, _copy_of(container)) for container, _ in change.keep]
        redo = _restore_ops(keep)
        before = _repr(keep[0][0]) if keep else ""
    atomic.apply(change.undo)
    after = _current(target) if change.saves_value and target is not None else \
        (change.keep[0][0] if change.keep else None)
    undo_change = Change(_new_id("c"), "rollback", change.path, client.name, before,
                         _repr(after), redo, keep, target, saves_value=change.saves_value)
    change.rolled_back = undo_change.change_id
    return _record(undo_change, {"rolledBack": change_id})


def changes(params: dict[str, Any]) -> dict[str, Any]:
    with _changes_lock:
        listed = [c.summary() for c in _changes.values()]
    return {"changes": listed[-integer(params, "limit", 100, 1, MAX_CHANGES):]}


def transform(params: dict[str, Any]) -> dict[str, Any]:
    """Replace every value of a dict, list or deque by ``function(value)`` (or
    ``function(key, value)`` with ``withKey``), optionally only where ``where(key, value)``."""
    from . import scanner

    client = get(params)
    target = resolve(need_str(params, "path"), client)
    container = target.value
    if not isinstance(container, (dict, list, collections.deque)):
        raise RpcError(ERR_INVALID, f"{target.path}: only dicts, lists and deques can be transformed")
    source = need_str(params, "function")
    scan = scanner.guard(source, params, "transform")
    fn = evaluate.callable_from(source, params, client, "transform")
    where_source = params.get("where")
    test = None
    if isinstance(where_source, str) and where_source.strip():
        scanner.guard(where_source, params, "transform")
        test = evaluate.callable_from(where_source, params, client, "transform")
    with_key = bool(params.get("withKey"))
    items = list(dict.items(container)) if isinstance(container, dict) else list(enumerate(container))

    def compute() -> list[tuple[Any, Any]]:
        out = []
        for key, value in items:
            if test is None or test(key, value):
                out.append((key, fn(key, value) if with_key else fn(value)))
        return out

    run = runner.run_in_thread(compute, kind="transform", client=client.name,
                               timeout=number(params, "timeout", 10.0, 0.01))
    if run.error is not None or not run.done.is_set():
        outcome = run.outcome()
        raise RpcError(ERR_INVALID, f"the function failed: {outcome.get('error') or outcome['status']}")
    saved = [(container, _copy_of(container))]
    if isinstance(container, dict):
        ops: list[tuple[Any, ...]] = [(dict.update, container, dict(run.result))]
    else:
        ops = [(operator.setitem, container, index, value) for index, value in run.result]
    undo = _restore_ops(saved)
    old_text = _repr(container)
    atomic.apply_or_undo(ops, undo)
    change = Change(_new_id("c"), "transform", target.path, client.name, old_text,
                    _repr(container), undo, saved, target)
    return _record(change, {"function": source, "changed": len(run.result), "scan": {
        "risk": scan.get("risk", 0), "findings": scan.get("findings", [])}})


def backup(params: dict[str, Any]) -> dict[str, Any]:
    client = get(params)
    target = resolve(need_str(params, "path"), client)
    saved = snapshot_tree(target.value)
    if not saved:
        raise RpcError(ERR_INVALID, f"{target.path}: a {type_name(type(target.value))} holds no "
                       "containers or attributes to back up")
    backup_id = _new_id("b")
    _backups[backup_id] = (target.path, saved)
    audit.write({"action": "backup", "client": client.name, "backup": backup_id,
                 "path": target.path, "value": _repr(target.value), "containers": len(saved)})
    return {"backup": backup_id, "path": target.path, "containers": len(saved)}


def restore(params: dict[str, Any]) -> dict[str, Any]:
    client = get(params)
    backup_id = need_str(params, "backup")
    found = _backups.get(backup_id)
    if found is None:
        raise RpcError(ERR_INVALID, f"no backup {backup_id!r} in this process")
    path, saved = found
    now = [(container, _copy_of(container)) for container, _ in saved]
    undo = _restore_ops(now)
    root = saved[0][0]
    before = _repr(root)
    atomic.apply_or_undo(_restore_ops(saved), undo)
    change = Change(_new_id("c"), "restore", path, client.name, before, _repr(root), undo, now)
    return _record(change, {"backup": backup_id})
