"""Inputs of an experiment: what to call the target with.

Each input is a JSON object with an ``id`` and one of:

- ``args`` / ``kwargs``: Python source per argument (``"[1, 2]"``, ``"Point(1, 2)"``); a
  literal is read with ``ast.literal_eval``, anything else is evaluated in the
  target module's globals (after the security scanner);
- ``params``: ``{parameter name: repr}`` as a recording stores a call (the
  arguments as the function's locals at its first step), bound to the target's
  signature (``*args`` and ``**kwargs`` included); literals only;
- ``pickle``: base64 of ``pickle.dumps((args, kwargs))`` from a live capture;
- ``ref``: a captured call kept in this process's memory (its arguments could not
  be pickled), for in-process runs in the program that captured it.

``decode`` gives ``(args, kwargs)`` or raises InputError naming why.
"""

from __future__ import annotations

import ast
import base64
import inspect
import io
import pickle
import sys
from typing import Any

from . import target as targets

# captured calls whose arguments could not be pickled: id -> (args, kwargs)
REFS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}


class InputError(Exception):
    pass


def literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise InputError(f"{_short(text)} is not a literal") from None


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


class _Unpickler(pickle.Unpickler):
    """Objects of the program's ``__main__`` resolve in the script loaded as a module."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "__main__" and targets.MAIN_ALIAS in sys.modules:
            module = targets.MAIN_ALIAS
        return super().find_class(module, name)


def _expression(text: str, target: targets.Target, scan: Any) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    if scan is not None:
        scan(text)
    namespace = dict(targets.module_dict(target.module))
    try:
        code = compile(text, "<devsandbox-input>", "eval", dont_inherit=True)
    except SyntaxError as exc:
        raise InputError(f"{_short(text)}: SyntaxError: {exc.msg}") from None
    try:
        return eval(code, namespace)
    except BaseException as exc:  # noqa: BLE001
        raise InputError(f"{_short(text)}: {type(exc).__name__}: {exc}") from None


def bind(fn: Any, params: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Arguments that call ``fn`` with its parameters set to ``params`` (a recorded frame)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return [], dict(params)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        kind = parameter.kind
        if name not in params:
            if parameter.default is inspect.Parameter.empty and kind not in (
                    parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise InputError(f"the recorded call has no value for the parameter {name!r}")
            if kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                args.append(parameter.default)  # keep later positional values in place
            continue
        value = params[name]
        if kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            args.append(value)
        elif kind == parameter.VAR_POSITIONAL:
            args.extend(value)
        elif kind == parameter.KEYWORD_ONLY:
            kwargs[name] = value
        else:
            kwargs.update(value)
    return args, kwargs


def decode(item: dict[str, Any], target: targets.Target, scan: Any = None
           ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if "pickle" in item:
        try:
            data = base64.b64decode(item["pickle"])
            args, kwargs = _Unpickler(io.BytesIO(data)).load()
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot unpickle the captured call: {type(exc).__name__}: {exc}"
                             ) from None
        return tuple(args), dict(kwargs)
    if "ref" in item:
        kept = REFS.get(str(item["ref"]))
        if kept is None:
            raise InputError("the captured call is only kept in memory by the program that "
                             "captured it (its arguments cannot be pickled): run in-process there")
        return kept
    if "params" in item:
        params = item["params"]
        if not isinstance(params, dict):
            raise InputError("'params' must map parameter names to reprs")
        values = {str(k): literal(str(v)) for k, v in params.items()}
        args, kwargs = bind(target.function, values)
        return tuple(args), kwargs
    raw_args = item.get("args") or []
    raw_kwargs = item.get("kwargs") or {}
    if not isinstance(raw_args, list) or not isinstance(raw_kwargs, dict):
        raise InputError("'args' must be a list and 'kwargs' an object of Python sources")
    args = tuple(_expression(a, target, scan) if isinstance(a, str) else a for a in raw_args)
    kwargs = {str(k): _expression(v, target, scan) if isinstance(v, str) else v
              for k, v in raw_kwargs.items()}
    return args, kwargs


def encode_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """base64 of the pickled call (raises what pickle raises)."""
    return base64.b64encode(pickle.dumps((tuple(args), dict(kwargs)), protocol=4)).decode("ascii")
