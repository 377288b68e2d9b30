"""Loaded modules, the program's own import graph and its largest module-level containers.

Part of ``discover``; runs on an agent thread.  Reads module dictionaries and
source files only: no attribute of the program's objects is looked up through
their class (no properties, no ``__len__``/``__repr__`` of unknown types).
"""

from __future__ import annotations

import ast
import collections
import functools
import itertools
import os
import sys
import sysconfig
import types
from collections.abc import Iterable
from typing import Any

TOOL_PREFIXES = ("devsandbox", "debugpy", "pydevd", "_pydevd", "_pydev", "pydev_", "_pydevd_bundle")
MAX_OWN_MODULES = 2000
MAX_SOURCE_BYTES = 2 * 1024 * 1024
SAMPLE = 100  # elements sampled per container to estimate the memory of its items
CACHE_ENTRY_BYTES = 150  # rough cost of one lru_cache entry besides its key and value

_SAFE_SCALARS = (int, float, complex, str, bytes, bool, type(None))
_CONTAINER_BASES: tuple[type, ...] = (dict, list, set, frozenset, tuple, collections.deque)

_ast_cache: dict[tuple[str, int, int], list[tuple[str, int, str | None]]] = {}


def program_dirs() -> list[str]:
    """Where the program's own code lives: the main script's directory and the working directory."""
    dirs: list[str] = []
    main = sys.modules.get("__main__")
    main_file = _module_file(main) if main is not None and _is(main, types.ModuleType) else None
    if main_file:
        dirs.append(os.path.dirname(os.path.realpath(main_file)))
    try:
        cwd = os.path.realpath(os.getcwd())
    except OSError:
        cwd = ""
    if cwd and cwd != os.path.dirname(cwd) and cwd != os.path.realpath(os.path.expanduser("~")):
        dirs.append(
            cwd
        )  # not the filesystem root nor the home directory: that would claim everything
    return sorted(set(dirs))


def _module_file(module: types.ModuleType) -> str | None:
    namespace = _module_dict(module)
    value = namespace.get("__file__")
    if isinstance(value, str):
        return value
    path = namespace.get("__path__")  # namespace packages
    if type(path) is list and path and isinstance(path[0], str):
        return path[0]
    return None


def _module_dict(module: types.ModuleType) -> dict[str, Any]:
    namespace = object.__getattribute__(module, "__dict__")
    return namespace if type(namespace) is dict else {}


def _snapshot_modules() -> list[tuple[str, types.ModuleType]]:
    for _attempt in range(20):
        try:
            items = list(sys.modules.items())
            break
        except RuntimeError:  # the program imported something while we copied
            continue
    else:
        items = []
    return [(n, m) for n, m in items if isinstance(n, str) and _is(m, types.ModuleType)]


class _Classifier:
    def __init__(self, roots: list[str]) -> None:
        self.roots = [os.path.join(r, "") for r in roots]
        paths = sysconfig.get_paths()
        stdlib = {paths.get("stdlib"), paths.get("platstdlib")}
        self.stdlib_dirs = [os.path.join(os.path.realpath(p), "") for p in stdlib if p]
        self.stdlib_names: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())

    def kind(self, name: str, file: str | None) -> str:
        top = name.split(".")[0]
        if top.startswith(TOOL_PREFIXES):
            return "tools"
        if name in ("__main__", "__mp_main__") and file:
            return "own"
        if top in self.stdlib_names or top in sys.builtin_module_names:
            return "stdlib"
        if file is None:
            return "other"
        real = os.path.realpath(file)
        parts = real.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            return "third_party"
        if any(real.startswith(d) for d in self.stdlib_dirs):
            return "stdlib"
        if any(real.startswith(r) for r in self.roots):
            return "own"
        return "other"


def classify(roots: list[str]) -> dict[str, list[tuple[str, types.ModuleType, str | None]]]:
    classifier = _Classifier(roots)
    groups: dict[str, list[tuple[str, types.ModuleType, str | None]]] = {
        "own": [],
        "third_party": [],
        "stdlib": [],
        "tools": [],
        "other": [],
    }
    for name, module in _snapshot_modules():
        file = _module_file(module)
        kind = (
            "tools"
            if "_DEVSANDBOX_BOOTSTRAP" in _module_dict(module)
            else classifier.kind(name, file)
        )
        groups[kind].append((name, module, file))
    for members in groups.values():
        members.sort(key=lambda item: item[0])
    return groups


def modules_report(roots: list[str]) -> dict[str, Any]:
    groups = classify(roots)
    own = groups["own"][:MAX_OWN_MODULES]
    own_names = {name for name, _, _ in own}
    graph: dict[str, list[str]] = {}
    external: dict[str, list[str]] = {}
    for name, module, file in own:
        edges, others = _imports_of(name, module, file, own_names)
        graph[name] = sorted(edges - {name})
        external[name] = sorted(others)
    return {
        "own": [
            {"name": n, "file": f, "package": "__path__" in _module_dict(m)} for n, m, f in own
        ],
        "third_party": _by_top(groups["third_party"]),
        "stdlib": sorted({n.split(".")[0] for n, _, _ in groups["stdlib"]}),
        "other": [{"name": n, "file": f} for n, _, f in groups["other"]],
        "counts": {k: len(v) for k, v in groups.items()},
        "import_graph": graph,
        "external_imports": external,
    }


def _by_top(members: Iterable[tuple[str, types.ModuleType, str | None]]) -> list[dict[str, Any]]:
    tops: dict[str, int] = {}
    for name, _, _ in members:
        top = name.split(".")[0]
        tops[top] = tops.get(top, 0) + 1
    return [{"name": top, "modules": n} for top, n in sorted(tops.items())]


def _imports_of(
    name: str, module: types.ModuleType, file: str | None, own: set[str]
) -> tuple[set[str], set[str]]:
    """Own modules ``name`` imports (from its source and its globals), and other imports."""
    namespace = _module_dict(module)
    is_package = "__path__" in namespace
    package = name if is_package else name.rpartition(".")[0]
    edges: set[str] = set()
    others: set[str] = set()
    for target, level, imported in _parsed_imports(file):
        absolute = _resolve(target, level, package)
        if absolute is None:
            continue
        candidates = [f"{absolute}.{imported}"] if imported else []
        parts = absolute.split(".")
        candidates += [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
        hit = next((c for c in candidates if c in own), None)
        if hit:
            edges.add(hit)
        elif level == 0:
            others.add(parts[0])
    for value in list(namespace.values()):
        if _is(value, types.ModuleType):
            other = _module_dict(value).get("__name__")
            if isinstance(other, str) and other in own:
                edges.add(other)
    if name == "__main__":
        edges.discard("__main__")
    return edges, others


def _resolve(target: str, level: int, package: str) -> str | None:
    if level == 0:
        return target
    parts = package.split(".") if package else []
    if level - 1 > len(parts) or not package:
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([target] if target else [])) or None


def _parsed_imports(file: str | None) -> list[tuple[str, int, str | None]]:
    """(module, level, imported name or None) for each import statement in the source file."""
    if not file or not file.endswith(".py"):
        return []
    try:
        st = os.stat(file)
    except OSError:
        return []
    key = (file, st.st_mtime_ns, st.st_size)
    cached = _ast_cache.get(key)
    if cached is not None:
        return cached
    result: list[tuple[str, int, str | None]] = []
    if st.st_size <= MAX_SOURCE_BYTES:
        try:
            with open(file, "rb") as f:
                tree = ast.parse(f.read(), filename=file)
        except (OSError, SyntaxError, ValueError):
            tree = None
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Import):
                result.extend((alias.name, 0, None) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                result.extend((node.module or "", node.level, alias.name) for alias in node.names)
    _ast_cache[key] = result
    return result


# -- containers ---------------------------------------------------------------------------------


def containers(roots: list[str], top: int = 20) -> list[dict[str, Any]]:
    """The largest module-level containers and lru_cache wrappers of the program's own modules."""
    found: dict[int, dict[str, Any]] = {}
    for module_name, module, _ in classify(roots)["own"][:MAX_OWN_MODULES]:
        for name, value in _globals(module):
            entries: list[tuple[str, Any]] = [(name, value)]
            if _is(value, type) and type.__dict__["__module__"].__get__(value) == module_name:
                entries += [
                    (f"{name}.{attr}", v) for attr, v in _class_items(value) if _cache_info(v)
                ]
            for label, obj in entries:
                if id(obj) in found:
                    found[id(obj)].setdefault("aliases", []).append(f"{module_name}.{label}")
                    continue
                entry = describe_container(obj)
                if entry is not None:
                    entry.update(module=module_name, name=label)
                    found[id(obj)] = entry
    ranked = sorted(found.values(), key=lambda e: (e["size_bytes"], e["len"]), reverse=True)
    return ranked[:top]


def _globals(module: types.ModuleType) -> list[tuple[str, Any]]:
    namespace = _module_dict(module)
    for _attempt in range(20):
        try:
            items = list(namespace.items())
            break
        except RuntimeError:
            continue
    else:
        return []
    return [(k, v) for k, v in items if isinstance(k, str) and not k.startswith("__")]


def _class_items(cls: type) -> list[tuple[str, Any]]:
    namespace = type.__dict__["__dict__"].__get__(cls)
    return [(k, v) for k, v in list(namespace.items()) if isinstance(k, str)]


def describe_container(obj: Any) -> dict[str, Any] | None:
    info = _cache_info(obj)
    if info is not None:
        return {
            "type": "functools._lru_cache_wrapper",
            "kind": "lru_cache",
            "len": info["currsize"],
            "size_bytes": info["currsize"] * CACHE_ENTRY_BYTES,
            "size_is_rough": True,
            "cache_info": info,
        }
    base = next((b for b in _CONTAINER_BASES if _is(obj, b)), None)
    if base is None:
        return None
    # the builtin's length and size, even for subclasses that override them
    length: int = base.__len__(obj)  # type: ignore[attr-defined]
    if type(obj) is base:
        own_size = sys.getsizeof(obj)
    else:
        own_size = int(base.__sizeof__(obj))  # type: ignore[call-arg]
    return {
        "type": _type_name(type(obj)),
        "kind": base.__name__,
        "len": length,
        "size_bytes": own_size + _items_estimate(obj, base, length),
    }


def _items_estimate(obj: Any, base: type, length: int) -> int:
    if length == 0:
        return 0
    try:
        if base is dict:
            sample = list(itertools.islice(dict.items(obj), SAMPLE))
            values = [x for pair in sample for x in pair]
        else:
            items = base.__iter__(obj)  # type: ignore[attr-defined]
            values = list(itertools.islice(items, SAMPLE))
            sample = values
    except RuntimeError:  # changed size while we sampled
        return 0
    if not sample:
        return 0
    total = sum(_shallow_size(v) for v in values)
    return int(total * length / len(sample))


def _shallow_size(value: Any) -> int:
    if type(value) in _SAFE_SCALARS or type(value) is tuple:
        return sys.getsizeof(value)
    return object.__sizeof__(value)


def _cache_info(obj: Any) -> dict[str, Any] | None:
    wrapper = getattr(functools, "_lru_cache_wrapper", None)
    if isinstance(wrapper, type) and _is(obj, wrapper):
        info = wrapper.cache_info(obj)  # type: ignore[attr-defined]
    elif type(obj) is types.FunctionType:  # the pure-Python lru_cache
        fn = obj.__dict__.get("cache_info")
        if not isinstance(fn, types.FunctionType) or not fn.__code__.co_filename.endswith(
            "functools.py"
        ):
            return None
        info = fn()
    else:
        return None
    return {
        "hits": info.hits,
        "misses": info.misses,
        "maxsize": info.maxsize,
        "currsize": info.currsize,
    }


def _type_name(t: type) -> str:
    module = type.__dict__["__module__"].__get__(t)
    qualname = type.__dict__["__qualname__"].__get__(t)
    return (
        qualname if module == "builtins" or not isinstance(module, str) else f"{module}.{qualname}"
    )


def _is(obj: Any, cls: type) -> bool:
    """isinstance() without asking the object for its ``__class__`` (a proxy could run code)."""
    return issubclass(type(obj), cls)
