"""Planning a hot reload: which live functions get which new code, what is added, what
cannot change (see ``hotswap.py`` for the whole story).

The planning reads the program's state without running its code; the parts
that do run it (new definitions, default values, constants) are collected in
``Plan.to_run`` and executed by ``run_program_code`` on a worker thread.  The
result is a list of C-level operations and their inverse (``atomic``).
"""

from __future__ import annotations

import ast
import copy
import gc
import os
import sys
import time
import types
from typing import Any

from ..modules import _module_dict
from ..values import safe_repr

_FUNC_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)


def _realpath(path: str, cache: dict[str, str]) -> str:
    found = cache.get(path)
    if found is None:
        found = cache[path] = os.path.realpath(path)
    return found


# -- code objects ------------------------------------------------------------------------------


def _codes_by_qualname(code: types.CodeType) -> dict[str, list[types.CodeType]]:
    found: dict[str, list[types.CodeType]] = {}
    stack = [code]
    while stack:
        current = stack.pop()
        for const in current.co_consts:
            if isinstance(const, types.CodeType):
                found.setdefault(const.co_qualname, []).append(const)
                stack.append(const)
    return found


def _shape(code: types.CodeType) -> tuple[Any, ...]:
    """What a code object does, without its line numbers."""
    consts = tuple(_shape(c) if isinstance(c, types.CodeType) else (type(c), c)
                   for c in code.co_consts)
    return (code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars,
            code.co_cellvars, code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
            code.co_flags)


def _defs_by_qualname(tree: ast.Module) -> dict[str, ast.AST]:
    found: dict[str, ast.AST] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (*_FUNC_NODES, ast.ClassDef)):
                qual = prefix + node.name
                found.setdefault(qual, node)
                inner = qual + (".<locals>." if isinstance(node, _FUNC_NODES) else ".")
                visit(node.body, inner)
            else:
                for child in ast.iter_child_nodes(node):  # defs inside if/try/with blocks
                    if isinstance(child, ast.stmt):
                        visit([child], prefix)

    visit(tree.body, "")
    return found


def _module_functions(filename: str) -> list[types.FunctionType]:
    """Every live function whose code comes from ``filename``."""
    wanted = os.path.realpath(filename)
    cache: dict[str, str] = {}
    return [obj for obj in gc.get_objects()
            if type(obj) is types.FunctionType and
            _realpath(obj.__code__.co_filename, cache) == wanted]


# -- planning ------------------------------------------------------------------------------------


class Plan:
    def __init__(self, module: types.ModuleType, filename: str, tree: ast.Module,
                 code: types.CodeType) -> None:
        self.module = module
        self.namespace = _module_dict(module)
        self.filename = filename
        self.tree = tree
        self.new_codes = _codes_by_qualname(code)
        self.defs = _defs_by_qualname(tree)
        self.ops: list[tuple[Any, ...]] = []
        self.undo: list[tuple[Any, ...]] = []
        self.swapped: dict[types.CodeType, str] = {}  # old code -> qualname
        self.changed: dict[str, int] = {}
        self.moved = 0
        self.added: list[dict[str, str]] = []
        self.constants: list[dict[str, Any]] = []
        self.constants_differ: list[str] = []
        self.not_changed: list[dict[str, str]] = []
        self.risky_nodes: list[ast.AST] = []  # changed or new code: what the scanner reads
        self.to_run: list[tuple[str, Any]] = []  # work that runs the program's code

    def note(self, name: str, reason: str) -> None:
        if not any(n["name"] == name for n in self.not_changed):
            self.not_changed.append({"name": name, "reason": reason})


def plan_functions(plan: Plan) -> None:
    functions = _module_functions(plan.filename)
    old_codes: dict[str, list[types.CodeType]] = {}
    for func in functions:
        codes = old_codes.setdefault(func.__code__.co_qualname, [])
        if not any(c is func.__code__ for c in codes):
            codes.append(func.__code__)
    for func in functions:
        old = func.__code__
        qual = old.co_qualname
        candidates = plan.new_codes.get(qual)
        if not candidates:
            if "<lambda>" not in qual and "<" not in qual.rpartition(".")[2]:
                plan.note(qual, "no longer in the source: the existing function is kept")
            continue
        if len(candidates) > 1:
            # several definitions with one name (a property's getter and setter): pair them
            # with the live ones in source order, if there are as many of each
            olds = sorted(old_codes[qual], key=lambda c: c.co_firstlineno)
            if len(olds) != len(candidates):
                plan.note(qual, f"defined {len(candidates)} times in the source: ambiguous, "
                          "not changed")
                continue
            new = sorted(candidates, key=lambda c: c.co_firstlineno)[
                next(i for i, c in enumerate(olds) if c is old)]
            node = None
        else:
            new = candidates[0]
            node = plan.defs.get(qual)
        if _shape(old) == _shape(new):
            if old.co_firstlineno != new.co_firstlineno or old.co_linetable != new.co_linetable:
                plan.moved += 1
                _swap(plan, func, new, track=False)
            if node is not None:
                plan.to_run.append(("literal-defaults", (func, node)))
            continue
        if old.co_freevars != new.co_freevars:
            plan.note(qual, f"a closure whose free variables changed ({', '.join(old.co_freevars)}"
                      f" -> {', '.join(new.co_freevars)}): it keeps the old code; calling the "
                      "enclosing function again makes a new one")
            continue
        _swap(plan, func, new, track=True)
        plan.changed[qual] = plan.changed.get(qual, 0) + 1
        if node is not None:
            plan.risky_nodes.append(node)
            plan.to_run.append(("defaults", (func, node)))


def _swap(plan: Plan, func: types.FunctionType, new: types.CodeType, track: bool) -> None:
    old = func.__code__
    plan.ops.append((setattr, func, "__code__", new))
    plan.undo.append((setattr, func, "__code__", old))
    if track:
        plan.swapped[old] = old.co_qualname


def plan_definitions(plan: Plan) -> None:
    """New top-level functions and classes, new methods of existing classes, constants."""
    for node in plan.tree.body:
        if isinstance(node, (*_FUNC_NODES, ast.ClassDef)):
            current = plan.namespace.get(node.name)
            if current is None:
                plan.risky_nodes.append(node)
                plan.to_run.append(("define", node))
            elif isinstance(node, ast.ClassDef) and isinstance(current, type):
                fresh = [n for n in node.body if isinstance(n, _FUNC_NODES)
                         and n.name not in current.__dict__]
                if fresh:
                    plan.risky_nodes.extend(fresh)
                    plan.to_run.append(("methods", (node, current, fresh)))


def _constant_targets(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
        return [node.target.id]
    return []


_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset)


def plan_constants(plan: Plan, wanted: Any) -> None:
    """Constants are top-level names bound to immutable literals (``LIMIT = 10``); a dict or
    list literal is the module's state (``CACHE = {}``), replaced only when named."""
    for node in plan.tree.body:
        names = _constant_targets(node)
        value_node = getattr(node, "value", None)
        if not names or value_node is None:
            continue
        try:
            value: Any = ast.literal_eval(value_node)
            literal = isinstance(value, _IMMUTABLE)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value, literal = _MISSING, False
        for name in names:
            if (wanted is True and literal) or (isinstance(wanted, list) and name in wanted):
                plan.risky_nodes.append(node)
                plan.to_run.append(("constant", (name, value_node)))
            elif literal:
                current = plan.namespace.get(name, _MISSING)
                if not _literal_equal(current, value):
                    plan.constants_differ.append(name)


_MISSING = object()


# -- the part that runs the program's code (on a worker thread) ---------------------------------


def _evaluate(node: ast.expr, plan: Plan, scope: dict[str, Any] | None = None) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    expr = ast.Expression(node)
    ast.fix_missing_locations(expr)
    code = compile(expr, plan.filename, "eval", dont_inherit=True)
    return eval(code, plan.namespace, scope)


def _defaults_of(node: Any, plan: Plan, literal_only: bool) -> tuple[Any, Any] | None:
    args = node.args
    try:
        if literal_only:
            defaults = tuple(ast.literal_eval(d) for d in args.defaults)
            kw = {a.arg: ast.literal_eval(d) for a, d in zip(args.kwonlyargs, args.kw_defaults)
                  if d is not None}
        else:
            defaults = tuple(_evaluate(d, plan) for d in args.defaults)
            kw = {a.arg: _evaluate(d, plan) for a, d in zip(args.kwonlyargs, args.kw_defaults)
                  if d is not None}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return (defaults or None), (kw or None)


def _set_defaults(plan: Plan, func: types.FunctionType, node: Any, literal_only: bool) -> None:
    found = _defaults_of(node, plan, literal_only)
    if found is None:
        return
    defaults, kwdefaults = found
    if literal_only and _literal_equal(func.__defaults__, defaults) and \
            _literal_equal(func.__kwdefaults__, kwdefaults):
        return
    if literal_only:
        qual = func.__code__.co_qualname
        plan.changed.setdefault(qual, 1)
    plan.ops += [(setattr, func, "__defaults__", defaults),
                 (setattr, func, "__kwdefaults__", kwdefaults)]
    plan.undo += [(setattr, func, "__defaults__", func.__defaults__),
                  (setattr, func, "__kwdefaults__", func.__kwdefaults__)]


def _literal_equal(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001  (the program's __eq__)
        return False


def _define(plan: Plan, node: ast.stmt) -> None:
    scratch: dict[str, Any] = {}
    code = compile(ast.Module([node], []), plan.filename, "exec", dont_inherit=True)
    exec(code, plan.namespace, scratch)  # noqa: S102  (checked by the scanner)
    name = node.name  # type: ignore[attr-defined]
    plan.ops.append((dict.__setitem__, plan.namespace, name, scratch[name]))
    plan.undo.append((dict.pop, plan.namespace, name, None))
    plan.added.append({"name": name, "kind": "class" if isinstance(node, ast.ClassDef)
                       else "function"})


def _add_methods(plan: Plan, node: ast.ClassDef, cls: type, fresh: list[ast.stmt]) -> None:
    synthetic = copy.copy(node)
    synthetic.body, synthetic.bases, synthetic.keywords, synthetic.decorator_list = \
        list(fresh), [], [], []
    scratch: dict[str, Any] = {}
    code = compile(ast.Module([synthetic], []), plan.filename, "exec", dont_inherit=True)
    exec(code, plan.namespace, scratch)  # noqa: S102  (checked by the scanner)
    temp = scratch[node.name]
    for method in fresh:
        name = method.name  # type: ignore[attr-defined]
        value = temp.__dict__[name]
        for fn in _functions_in(value):
            _rebind_class_cell(fn, temp, cls)
        plan.ops.append((setattr, cls, name, value))
        plan.undo.append((delattr, cls, name))
        plan.added.append({"name": f"{cls.__qualname__}.{name}", "kind": "method"})


def _functions_in(value: Any) -> list[types.FunctionType]:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if isinstance(f, types.FunctionType)]
    return [value] if isinstance(value, types.FunctionType) else []


def _rebind_class_cell(fn: types.FunctionType, temp: type, cls: type) -> None:
    """``super()`` and ``__class__`` in a method added to ``cls`` must mean ``cls``."""
    freevars = fn.__code__.co_freevars
    if "__class__" in freevars and fn.__closure__ is not None:
        cell = fn.__closure__[freevars.index("__class__")]
        if cell.cell_contents is temp:
            cell.cell_contents = cls


def _constant(plan: Plan, name: str, node: ast.expr) -> None:
    value = _evaluate(node, plan)
    old = plan.namespace.get(name, _MISSING)
    if old is not _MISSING and type(old) is type(value) and _literal_equal(old, value):
        return
    plan.ops.append((dict.__setitem__, plan.namespace, name, value))
    plan.undo.append((dict.__setitem__, plan.namespace, name, old) if old is not _MISSING
                     else (dict.pop, plan.namespace, name, None))
    deadline = time.perf_counter() + 0.1
    plan.constants.append({"name": name, "old": safe_repr(old, 200, deadline)
                           if old is not _MISSING else None,
                           "new": safe_repr(value, 200, deadline)})


def run_program_code(plan: Plan) -> None:
    for kind, item in plan.to_run:
        if kind == "literal-defaults":
            _set_defaults(plan, item[0], item[1], literal_only=True)
        elif kind == "defaults":
            _set_defaults(plan, item[0], item[1], literal_only=False)
        elif kind == "define":
            _define(plan, item)
        elif kind == "methods":
            _add_methods(plan, *item)
        elif kind == "constant":
            _constant(plan, *item)


# -- what cannot change ----------------------------------------------------------------------------


def running(plan: Plan) -> list[dict[str, Any]]:
    """Calls in progress of functions whose code changes: they finish with the old code."""
    import threading as _threading

    names = {t.ident: t.name for t in _threading.enumerate()}
    found = []
    for ident, top in sys._current_frames().items():
        frame: types.FrameType | None = top
        while frame is not None:
            qual = plan.swapped.get(frame.f_code)
            if qual is not None:
                found.append({"name": qual, "thread": names.get(ident, str(ident)),
                              "line": frame.f_lineno,
                              "reason": "running on this thread: the call in progress finishes "
                                        "with the old code; the next call runs the new code"})
            frame = frame.f_back
    return found


def generators(plan: Plan) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    kinds = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)
    for obj in gc.get_objects():
        if type(obj) in kinds:
            code = getattr(obj, "gi_code", None) or getattr(obj, "cr_code", None) or \
                getattr(obj, "ag_code", None)
            frame = getattr(obj, "gi_frame", None) or getattr(obj, "cr_frame", None) or \
                getattr(obj, "ag_frame", None)
            if code in plan.swapped and frame is not None:
                counts[plan.swapped[code]] = counts.get(plan.swapped[code], 0) + 1
    return [{"name": name, "count": count,
             "reason": "suspended generators or coroutines keep running the old code (a frame "
                       "cannot change code); new ones use the new code"}
            for name, count in sorted(counts.items())]
