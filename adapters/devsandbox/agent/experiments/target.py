"""The target of an experiment (``module:qualname``), compiling code in its module's context,
and replacing a function everywhere the program can reach it by name.

A variant (or a mock) is source code defining a function, compiled in a copy of
the target module's globals: it sees the module's imports and globals, and a
recursive variant calls itself.  The copy keeps the module itself unchanged.

Replacing a function (``Patch``) sets the attribute on its owner (a module or a
class) and every module global elsewhere that refers to the same object (``from
mod import f``); ``restore()`` puts back only what still holds our replacement.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
import types
from dataclasses import dataclass, field
from typing import Any

from ..modules import _module_dict, _snapshot_modules

module_dict = _module_dict

MAIN_ALIAS = "__devsandbox_main__"  # a program's script loaded as a module outside the program


class TargetError(Exception):
    """The target cannot be found or loaded."""


@dataclass
class Target:
    spec: str  # "module:qualname"
    module_name: str
    qualname: str
    module: types.ModuleType
    owner: Any  # the module or class holding the attribute
    attr: str
    raw: Any  # what the owner's __dict__ holds (a function, staticmethod, classmethod)
    function: Any  # the callable to run (the plain function)

    @property
    def file(self) -> str | None:
        value = _module_dict(self.module).get("__file__")
        return os.path.realpath(value) if isinstance(value, str) else None

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


def split(spec: str) -> tuple[str, str]:
    module, colon, qualname = spec.strip().partition(":")
    if not colon or not module or not qualname:
        raise TargetError(f"{spec!r} is not module:qualname (for example app.util:parse)")
    if not all(p.isidentifier() for p in module.split(".")) or \
            not all(p.isidentifier() for p in qualname.split(".")):
        raise TargetError(f"{spec!r} is not module:qualname")
    return module, qualname


def load_module(name: str, file: str | None = None) -> types.ModuleType:
    """The loaded module ``name``; else imported; else loaded from ``file`` (a script: its
    ``if __name__ == "__main__"`` block does not run)."""
    module = sys.modules.get(name)
    if isinstance(module, types.ModuleType) and (
            name != "__main__" or file is None or _same_file(module, file)):
        return module
    if name == "__main__" or (file and not _importable(name)):
        if not file:
            raise TargetError(f"the module {name!r} is not loaded here; give its file")
        alias = MAIN_ALIAS if name == "__main__" else name
        existing = sys.modules.get(alias)
        if isinstance(existing, types.ModuleType) and _same_file(existing, file):
            return existing
        spec = importlib.util.spec_from_file_location(alias, file)
        if spec is None or spec.loader is None:
            raise TargetError(f"cannot load {file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[alias] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            sys.modules.pop(alias, None)
            raise TargetError(f"loading {file} failed: {type(exc).__name__}: {exc}") from exc
        return module
    try:
        return importlib.import_module(name)
    except BaseException as exc:
        raise TargetError(f"cannot import {name}: {type(exc).__name__}: {exc}") from exc


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _same_file(module: types.ModuleType, file: str) -> bool:
    value = _module_dict(module).get("__file__")
    return isinstance(value, str) and os.path.realpath(value) == os.path.realpath(file)


def resolve(spec: str, file: str | None = None) -> Target:
    module_name, qualname = split(spec)
    module = load_module(module_name, file)
    owner: Any = module
    parts = qualname.split(".")
    for part in parts[:-1]:
        namespace = _namespace(owner)
        if part not in namespace:
            raise TargetError(f"{spec}: {part!r} is not defined in {_label(owner)}")
        owner = namespace[part]
    namespace = _namespace(owner)
    attr = parts[-1]
    if attr not in namespace:
        raise TargetError(f"{spec}: {attr!r} is not defined in {_label(owner)}")
    raw = namespace[attr]
    function = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
    if not callable(function):
        raise TargetError(f"{spec} is a {type(raw).__name__}, not a function")
    return Target(spec, module_name, qualname, module, owner, attr, raw, function)


def _namespace(obj: Any) -> dict[str, Any]:
    if isinstance(obj, types.ModuleType):
        return _module_dict(obj)
    if isinstance(obj, type):
        return dict(obj.__dict__)
    raise TargetError(f"{_label(obj)} is neither a module nor a class")


def _label(obj: Any) -> str:
    return getattr(obj, "__name__", None) or type(obj).__name__


# -- compiling variants and mocks -----------------------------------------------------------------


class CompileError(Exception):
    """A variant's source does not compile or does not define a function."""

    def __init__(self, kind: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.line = line

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "message": str(self)}
        if self.line is not None:
            out["line"] = self.line
        return out


_counter = iter(range(1, 1 << 62))


def compile_function(source: str, target: Target, label: str) -> Any:
    """The function ``source`` defines, compiled in a copy of the target module's globals.

    The function named like the target is taken, else the only function the source
    defines, else the value of a source that is one expression (a lambda)."""
    import linecache

    filename = f"<devsandbox-{label}-{next(_counter)}>"
    try:
        tree = ast.parse(source, filename, "exec")
    except SyntaxError as exc:
        raise CompileError("SyntaxError", exc.msg, exc.lineno) from None
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace = dict(_module_dict(target.module))
    names = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    expression = len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
    try:
        if expression:
            code = compile(ast.Expression(tree.body[0].value), filename, "eval")  # type: ignore[attr-defined]
            fn = eval(code, namespace)
        else:
            code = compile(tree, filename, "exec", dont_inherit=True)
            exec(code, namespace)  # noqa: S102  (scanned before)
            wanted = target.name if target.name in names else names[0] if len(names) == 1 else None
            if wanted is None:
                raise CompileError("DefinitionError", f"the source must define {target.name}() "
                                   f"(or exactly one function); it defines "
                                   f"{', '.join(names) or 'none'}")
            fn = namespace[wanted]
            if "." in target.qualname:  # a method: its name is no global of the module
                original = _module_dict(target.module)
                if wanted in original:
                    namespace[wanted] = original[wanted]
                else:
                    del namespace[wanted]
            elif wanted != target.name:
                namespace[target.name] = fn  # recursion through the target's own name
    except CompileError:
        raise
    except BaseException as exc:  # noqa: BLE001  (decorators and defaults run user code)
        line = _line_in(exc, filename)
        raise CompileError(type(exc).__name__, str(exc), line) from None
    if isinstance(fn, (staticmethod, classmethod)):
        fn = fn.__func__
    if not callable(fn):
        raise CompileError("DefinitionError", f"the source's value is a {type(fn).__name__}, "
                           "not a function")
    return fn


def _line_in(exc: BaseException, filename: str) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def as_attribute(target: Target, fn: Any) -> Any:
    """``fn`` wrapped like the target's raw attribute (staticmethod, classmethod)."""
    if isinstance(target.raw, staticmethod):
        return staticmethod(fn)
    if isinstance(target.raw, classmethod):
        return classmethod(fn)
    return fn


# -- replacing a function everywhere it is reachable by name --------------------------------------


@dataclass
class Patch:
    """One replacement: the owner's attribute and every module global aliasing it."""

    owner: Any
    attr: str
    original: Any
    replacement: Any
    had_attr: bool
    aliases: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    active: bool = False

    def apply(self) -> None:
        setattr(self.owner, self.attr, self.replacement)
        for namespace, name in self.aliases:
            namespace[name] = self.replacement
        self.active = True

    def restore(self) -> None:
        """Undo, where our replacement is still in place (the program may have changed it)."""
        if not self.active:
            return
        self.active = False
        current = _namespace_of(self.owner).get(self.attr, _ABSENT)
        if current is self.replacement:
            if self.had_attr:
                setattr(self.owner, self.attr, self.original)
            else:
                delattr(self.owner, self.attr)
        for namespace, name in self.aliases:
            if namespace.get(name, _ABSENT) is self.replacement:
                namespace[name] = self.original


_ABSENT = object()


def _namespace_of(owner: Any) -> Any:
    if isinstance(owner, types.ModuleType):
        return _module_dict(owner)
    return owner.__dict__


def patch_for(spec: str, replacement_for: Any, file: str | None = None) -> Patch:
    """A Patch replacing the function named by ``spec``; ``replacement_for(target)`` builds
    the replacement from the resolved target (not applied yet)."""
    target = resolve(spec, file)
    replacement = replacement_for(target)
    patch = Patch(target.owner, target.attr, target.raw, replacement, True)
    if isinstance(target.owner, types.ModuleType):
        patch.aliases = aliases_of(target.raw, skip=_module_dict(target.owner))
    return patch


def aliases_of(obj: Any, skip: dict[str, Any] | None = None) -> list[tuple[dict[str, Any], str]]:
    """(module dict, name) of every module global that is ``obj`` (``from mod import f``)."""
    found = []
    for _name, module in _snapshot_modules():
        namespace = _module_dict(module)
        if namespace is skip:
            continue
        try:
            items = list(namespace.items())
        except RuntimeError:
            continue
        for key, value in items:
            if value is obj and isinstance(key, str):
                found.append((namespace, key))
    return found
