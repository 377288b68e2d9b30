"""Hot swap: reload a module's new source into the running program, keeping its state.

``hotReload`` {module | file, source?, updateConstants?}:

1. The source is compiled with the module's file name; a syntax or compile
   error changes nothing and comes back with the file, line and column.
2. The new code objects are matched to the live functions by qualified name
   (``co_qualname``).  Every function object of the module's file the garbage
   collector knows is a candidate: module functions, methods (also inside
   ``staticmethod``, ``classmethod`` and ``property``), decorated functions (the
   decorator's wrapper calls the same function object) and closures made
   earlier by an enclosing function.  A changed function gets the new code
   object (``__code__``) and default values in place, so existing references,
   bound methods, instances, callbacks and closures run the new code on their
   next call.  A closure whose free variables changed cannot take the new code:
   it is reported and left alone, as are ambiguous names (two definitions with
   the same qualified name) and functions removed from the source (they stay).
3. New top-level functions and classes are defined in the module; new methods
   are added to their existing class (``super()`` in them sees that class).
4. Module constants (top-level ``NAME = literal`` of an immutable type) are
   updated only when asked: ``updateConstants: true`` updates those that
   differ, a list of names updates exactly those (any expression, also a dict
   or list: that replaces state).  Otherwise the differing ones are listed.
   Names bound to dicts, lists and sets are the module's state and stay.
5. Everything is applied as one step with respect to the program's threads
   (``atomic``) and recorded as a version; ``revertReload`` {version} puts the
   previous code, defaults and bindings back (and reverts the later versions of
   the same module first).

What cannot change: a call in progress finishes with the code it started with
(functions on some thread's stack are listed), and a suspended generator or
coroutine keeps its code (those whose code changed are listed).  The state of
the module (globals that are not updated constants, instances, caches) is
kept.  New definitions and defaults run the module's code (decorators, class
bodies): they go through the safety check like any injected code, and run on a
worker thread with a timeout.
"""

from __future__ import annotations

import ast
import itertools
import linecache
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Any

from ..modules import _module_dict
from ..rpc import RpcError
from ..values import module_for_file
from . import atomic, audit, reloadplan, runner, scanner
from .clients import ERR_INVALID, get, number

DEFAULT_TIMEOUT = 10.0


@dataclass
class Version:
    version: str
    module: str
    file: str
    client: str
    undo: list[tuple[Any, ...]]
    summary: dict[str, Any]
    time: float = field(default_factory=time.time)
    reverted: bool = False


_versions: list[Version] = []
_numbers = itertools.count(1)
_lock = threading.Lock()  # one reload at a time


def _find_module(params: dict[str, Any]) -> tuple[str, types.ModuleType, str] | None:
    name, file = params.get("module"), params.get("file")
    if isinstance(name, str) and name:
        module = sys.modules.get(name)
        if not isinstance(module, types.ModuleType):
            return None
        path = _module_dict(module).get("__file__")
        if not isinstance(path, str):
            raise RpcError(ERR_INVALID, f"module {name} has no source file")
        return name, module, path
    if not isinstance(file, str) or not file:
        raise RpcError(ERR_INVALID, "give 'module' or 'file'")
    found = module_for_file(file)
    if found is None:
        return None
    path = _module_dict(found[1]).get("__file__")
    return found[0], found[1], path if isinstance(path, str) else file


# -- requests ------------------------------------------------------------------------------------


def hot_reload(params: dict[str, Any]) -> dict[str, Any]:
    client = get(params)
    found = _find_module(params)
    if found is None:
        return {"status": "not-loaded", "file": params.get("file"), "module": params.get("module"),
                "reason": "no module of the program was loaded from it: nothing to reload"}
    name, module, filename = found
    source = params.get("source")
    if not isinstance(source, str):
        try:
            with open(filename, encoding="utf-8") as f:
                source = f.read()
        except OSError as exc:
            raise RpcError(ERR_INVALID, f"cannot read {filename}: {exc.strerror}") from None
    with _lock:
        return _reload(params, client.name, name, module, filename, source)


def _reload(params: dict[str, Any], client: str, name: str, module: types.ModuleType,
            filename: str, source: str) -> dict[str, Any]:
    base = {"module": name, "file": filename}
    try:
        tree = ast.parse(source, filename)
        code = compile(tree, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        error = {"type": type(exc).__name__, "message": getattr(exc, "msg", str(exc)),
                 "file": getattr(exc, "filename", filename) or filename,
                 "line": getattr(exc, "lineno", None), "column": getattr(exc, "offset", None)}
        audit.write({"action": "hotReload", "client": client, "status": "error", **base,
                     "error": error})
        return {"status": "error", **base, "error": error, "changed": []}
    plan = reloadplan.Plan(module, filename, tree, code)
    reloadplan.plan_functions(plan)
    reloadplan.plan_definitions(plan)
    reloadplan.plan_constants(plan, params.get("updateConstants"))
    risky = "\n".join(ast.get_source_segment(source, n) or "" for n in plan.risky_nodes)
    report = scanner.guard(risky, params, "hotReload") if risky.strip() else {}
    if plan.to_run:
        run = runner.run_in_thread(lambda: reloadplan.run_program_code(plan), kind="reload", client=client,
                                   timeout=number(params, "timeout", DEFAULT_TIMEOUT, 0.01))
        if run.error is not None or not run.done.is_set():
            outcome = run.outcome()
            audit.write({"action": "hotReload", "client": client, "status": "error", **base,
                         "error": outcome.get("error") or outcome["status"]})
            return {"status": "error", **base, "changed": [],
                    "error": outcome.get("error") or {"type": "Timeout",
                                                      "message": "the new definitions took too long"}}
    summary = _summary(plan, base)
    if report:
        summary["scan"] = {"risk": report.get("risk", 0), "findings": report.get("findings", [])}
    if not plan.ops:
        summary["version"] = None
        return summary
    running, generators = reloadplan.running(plan), reloadplan.generators(plan)
    atomic.apply_or_undo(plan.ops, list(reversed(plan.undo)))
    linecache.checkcache(filename)
    version = Version(f"v{next(_numbers)}", name, filename, client, list(reversed(plan.undo)),
                      summary)
    _versions.append(version)
    summary.update(version=version.version, stillRunning=running, generators=generators)
    audit.write({"action": "hotReload", "client": client, "status": "ok", "version":
                 version.version, **base, "changed": summary["changed"],
                 "added": summary["added"], "constants": summary["constants"],
                 "notChanged": summary["notChanged"]})
    return summary


def _summary(plan: reloadplan.Plan, base: dict[str, Any]) -> dict[str, Any]:
    return {"status": "ok", **base,
            "changed": [{"name": q, "functions": n} for q, n in sorted(plan.changed.items())],
            "added": plan.added, "constants": plan.constants,
            "constantsNotUpdated": sorted(set(plan.constants_differ)),
            "notChanged": plan.not_changed, "moved": plan.moved,
            "stillRunning": [], "generators": []}


def revert_reload(params: dict[str, Any]) -> dict[str, Any]:
    client = get(params)
    wanted = params.get("version")
    with _lock:
        index = next((i for i, v in enumerate(_versions) if v.version == wanted), None)
        if index is None:
            raise RpcError(ERR_INVALID, f"no reload version {wanted!r} in this process")
        target = _versions[index]
        if target.reverted:
            raise RpcError(ERR_INVALID, f"{wanted} was already reverted")
        later = [v for v in _versions[index:] if v.module == target.module and not v.reverted]
        for version in reversed(later):
            atomic.apply(version.undo)
            version.reverted = True
        linecache.checkcache(target.file)
    reverted = [v.version for v in reversed(later)]
    audit.write({"action": "revertReload", "client": client.name, "module": target.module,
                 "reverted": reverted})
    return {"status": "ok", "module": target.module, "reverted": reverted}


def reloads(params: dict[str, Any]) -> dict[str, Any]:
    return {"reloads": [{"version": v.version, "module": v.module, "file": v.file,
                         "client": v.client, "time": v.time, "reverted": v.reverted,
                         "changed": v.summary.get("changed"), "added": v.summary.get("added")}
                        for v in _versions]}
