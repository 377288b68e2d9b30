"""Evaluating code in the running program, and completions.

``eval`` runs multi-line source in the client's own namespace (kept between
requests) or in a module's globals (``module``), on a worker thread with a
timeout (see ``runner``), after the safety check (see ``scanner``).  When the
last statement is an expression its value is the answer (and ``_`` in the
namespace), as in the interactive interpreter.  Top-level ``await`` works: such
code runs as a coroutine in the program's asyncio loop (or a private one when
the program has none or it is paused).

``completions`` reads names without running the program's code: namespace and
module dictionaries, instance dictionaries and the classes' dictionaries along
the MRO.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import itertools
import keyword
import linecache
import re
import sys
import types
from collections.abc import Callable
from typing import Any

from ..modules import _module_dict
from ..rpc import RpcError
from ..values import static_attribute
from . import audit, runner, scanner
from .clients import ERR_INVALID, Client, get, need_str, number
from .paths import module_named

DEFAULT_TIMEOUT = 10.0
RESULT = "__devsandbox_result__"
_sources = itertools.count(1)


def namespace_for(params: dict[str, Any], client: Client) -> dict[str, Any]:
    module = params.get("module")
    if module is None:
        return client.namespace
    if not isinstance(module, str):
        raise RpcError(ERR_INVALID, "'module' must be a module name")
    return _module_dict(module_named(module))


def compile_source(source: str, kind: str) -> tuple[types.CodeType, bool]:
    """The code object (the last expression's value stored in RESULT) and whether it has one.

    Raises SyntaxError (with a ``<devsandbox-…>`` filename whose lines linecache knows)."""
    filename = f"<devsandbox-{kind}-{next(_sources)}>"
    tree = ast.parse(source, filename, "exec")
    has_value = bool(tree.body) and isinstance(tree.body[-1], ast.Expr)
    if has_value:
        last = tree.body[-1]
        assert isinstance(last, ast.Expr)
        target = ast.Name(RESULT, ast.Store())
        tree.body[-1] = ast.copy_location(ast.Assign([target], last.value), last)
        ast.fix_missing_locations(tree)
    code = compile(tree, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                   dont_inherit=True)
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    return code, has_value


def syntax_error(exc: SyntaxError) -> dict[str, Any]:
    return {"status": "error", "error": {
        "type": "SyntaxError", "message": exc.msg, "file": exc.filename, "line": exc.lineno,
        "column": exc.offset, "traceback": []}}


def execute(code: types.CodeType, namespace: dict[str, Any], has_value: bool, *, kind: str,
            client: Client, timeout: float) -> runner.Run:
    """Run compiled code in ``namespace``: a thread, or a loop for top-level await."""
    def finish() -> Any:
        return namespace.pop(RESULT, None) if has_value else None

    if code.co_flags & inspect.CO_COROUTINE:
        async def main() -> Any:
            await eval(code, namespace)
            return finish()

        return runner.run_coroutine(main, kind=kind, client=client.name, timeout=timeout)

    def body() -> Any:
        exec(code, namespace)  # noqa: S102  (checked by the scanner before)
        return finish()

    return runner.run_in_thread(body, kind=kind, client=client.name, timeout=timeout)


def evaluate(params: dict[str, Any]) -> dict[str, Any]:
    source = need_str(params, "code")
    client = get(params)
    report = scanner.guard(source, params, "eval")
    timeout = number(params, "timeout", DEFAULT_TIMEOUT, 0.01)
    namespace = namespace_for(params, client)
    try:
        code, has_value = compile_source(source, "eval")
    except SyntaxError as exc:
        return syntax_error(exc)
    run = execute(code, namespace, has_value, kind="eval", client=client, timeout=timeout)
    answer = run.outcome()
    if answer["status"] == "ok":
        if has_value:
            namespace["_"] = run.result
        else:
            answer.pop("value", None)
            answer.pop("type", None)
    answer["scan"] = _scan_summary(report)
    audit.write({"action": "eval", "client": client.name, "run": run.run_id,
                 "module": params.get("module"), "code": source[:2000], "status": answer["status"],
                 "risk": report.get("risk", 0)})
    return answer


def _scan_summary(report: dict[str, Any]) -> dict[str, Any]:
    return {"risk": report.get("risk", 0), "level": report.get("level"),
            "findings": report.get("findings", []), "forced": report.get("forced", False)}


def value_from(params: dict[str, Any], client: Client, what: str) -> tuple[Any, dict[str, Any]]:
    """The new value a request carries: ``value`` (JSON) or ``expression`` (Python source,
    checked and evaluated in the client's namespace).  Returns (value, scan summary)."""
    if "expression" in params:
        source = need_str(params, "expression")
        report = scanner.guard(source, params, what)
        return run_expression(source, params, client, what), _scan_summary(report)
    if "value" not in params:
        raise RpcError(ERR_INVALID, "give the new value as 'value' (JSON) or 'expression'")
    return params["value"], {}


def run_expression(source: str, params: dict[str, Any], client: Client, kind: str) -> Any:
    """Evaluate one expression (already checked) on a worker thread; raise RpcError on failure."""
    try:
        code = compile(source.strip(), f"<devsandbox-{kind}-{next(_sources)}>", "eval",
                       dont_inherit=True)
    except SyntaxError as exc:
        raise RpcError(ERR_INVALID, f"syntax error in the expression: {exc.msg}") from None
    namespace = namespace_for(params, client)
    run = runner.run_in_thread(lambda: eval(code, namespace), kind=kind,
                               client=client.name,
                               timeout=number(params, "timeout", DEFAULT_TIMEOUT, 0.01))
    answer = run.outcome()
    if answer["status"] != "ok":
        detail = answer.get("error", {}).get("message") or answer["status"]
        kind_name = answer.get("error", {}).get("type", answer["status"])
        raise RpcError(ERR_INVALID, f"the expression failed: {kind_name}: {detail}")
    return run.result


def callable_from(source: str, params: dict[str, Any], client: Client,
                  kind: str) -> Callable[..., Any]:
    fn = run_expression(source, params, client, kind)
    if not callable(fn):
        raise RpcError(ERR_INVALID, f"{source!r} is not callable (write a lambda)")
    return fn  # type: ignore[no-any-return]


# -- completions ---------------------------------------------------------------------------------

_TAIL = re.compile(r"(?:[A-Za-z_]\w*\.)*\w*$")


def completions(params: dict[str, Any]) -> dict[str, Any]:
    text = params.get("text")
    if not isinstance(text, str):
        raise RpcError(ERR_INVALID, "'text' must be a string")
    column = params.get("column")
    if isinstance(column, int) and not isinstance(column, bool) and 0 <= column <= len(text):
        text = text[:column]
    client = get(params)
    namespace = namespace_for(params, client)
    line = text.splitlines()[-1] if text.splitlines() and not text.endswith("\n") else ""
    token = _TAIL.search(line).group(0)  # type: ignore[union-attr]
    if "." in token:
        base, _, prefix = token.rpartition(".")
        names = _attribute_names(base.split("."), namespace)
    else:
        prefix = token
        names = _plain_names(namespace)
    show_private = prefix.startswith("_")
    targets = []
    for name, kind in sorted(names.items()):
        if name.startswith(prefix) and (show_private or not name.startswith("_")):
            targets.append({"label": name, "type": kind, "start": len(line) - len(prefix),
                            "length": len(prefix)})
    return {"targets": targets[:500]}


def _plain_names(namespace: dict[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {k: "keyword" for k in keyword.kwlist}
    for key, value in vars(builtins).items():
        names[key] = _kind(value)
    extra = namespace.get("__builtins__")
    if type(extra).__name__ == "_MainFallback":  # a client namespace: __main__'s names too
        main = sys.modules.get("__main__")
        for key, value in list(getattr(main, "__dict__", {}).items()):
            if isinstance(key, str):
                names[key] = _kind(value)
    for key, value in list(namespace.items()):
        if isinstance(key, str):
            names[key] = _kind(value)
    return names


def _attribute_names(chain: list[str], namespace: dict[str, Any]) -> dict[str, str]:
    first = chain[0]
    fallback = namespace.get("__builtins__")
    if first in namespace:
        obj = namespace[first]
    elif isinstance(fallback, dict) and (first in fallback or type(fallback).__name__ ==
                                         "_MainFallback"):
        try:
            obj = fallback[first]
        except KeyError:
            return {}
    elif hasattr(builtins, first):
        obj = getattr(builtins, first)
    else:
        return {}
    for name in chain[1:]:
        ok, obj = static_attribute(obj, name)
        if not ok:
            return {}
    names: dict[str, str] = {}
    if isinstance(obj, types.ModuleType):
        for key, value in list(_module_dict(obj).items()):
            names[key] = _kind(value)
        return names
    classes = obj.__mro__ if isinstance(obj, type) else type(obj).__mro__
    for cls in reversed(classes):
        for key, value in list(cls.__dict__.items()):
            names[key] = "property" if isinstance(value, property) else _kind(value)
    try:
        own = object.__getattribute__(obj, "__dict__")
    except (AttributeError, TypeError):
        own = None
    if type(own) is dict:
        for key, value in list(own.items()):
            if isinstance(key, str):
                names[key] = _kind(value)
    return names


def _kind(value: Any) -> str:
    if isinstance(value, types.ModuleType):
        return "module"
    if isinstance(value, type):
        return "class"
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                          types.MethodDescriptorType, types.WrapperDescriptorType,
                          types.ClassMethodDescriptorType, staticmethod, classmethod)):
        return "function"
    return "variable"
