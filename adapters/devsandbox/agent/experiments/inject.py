"""Dependency injection for the length of a run: mock, stub and spy any ``module:qualname``.

- mock ``{"kind": "mock", "target": ..., "source": "def f(...): ..."}``: a replacement
  function (or lambda), compiled in the replaced function's module context;
- stub ``{"kind": "stub", "target": ..., "value": "EXPR"}``: returns the value of EXPR
  (a literal, else evaluated once in that module's globals), whatever the arguments;
- spy ``{"kind": "spy", "target": ...}``: calls through and records each call's
  arguments and result (or exception).

``injected(specs)`` is a context manager: every replacement is undone on the way
out, in reverse order, whatever happens inside (an exception, a timeout injected
into the thread, SystemExit).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import Any

from ..values import safe_repr
from . import target as targets

MAX_SPY_CALLS = 100
KINDS = ("mock", "stub", "spy")


class InjectionError(Exception):
    pass


class Spy:
    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.count = 0
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, args: tuple[Any, ...], kwargs: dict[str, Any], outcome: dict[str, Any]
               ) -> None:
        with self._lock:
            self.count += 1
            if len(self.calls) < MAX_SPY_CALLS:
                entry = {"args": [safe_repr(a, 200) for a in args],
                         "kwargs": {k: safe_repr(v, 200) for k, v in kwargs.items()}}
                entry.update(outcome)
                self.calls.append(entry)

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {"target": self.spec, "count": self.count, "calls": list(self.calls)}

    def wrap(self, fn: Any) -> Any:
        @functools.wraps(fn)
        def spy(*args: Any, **kwargs: Any) -> Any:
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self.record(args, kwargs, {"raised": f"{type(exc).__name__}: {exc}"})
                raise
            self.record(args, kwargs, {"returned": safe_repr(result, 200)})
            return result

        return spy


def _stub(value: Any) -> Any:
    def stub(*args: Any, **kwargs: Any) -> Any:
        return value

    return stub


def _stub_value(text: Any, target: targets.Target) -> Any:
    if not isinstance(text, str):
        return text  # a JSON value given as it is
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    namespace = dict(targets.module_dict(target.module))
    try:
        return eval(compile(text, "<devsandbox-stub>", "eval", dont_inherit=True), namespace)
    except BaseException as exc:  # noqa: BLE001
        raise InjectionError(f"stub value {text!r} for {target.spec}: {type(exc).__name__}: "
                             f"{exc}") from None


def _build(spec: dict[str, Any], spies: dict[str, Spy], file_for: Any) -> targets.Patch:
    kind = spec.get("kind")
    name = spec.get("target")
    if kind not in KINDS or not isinstance(name, str):
        raise InjectionError(f"an injection needs a kind ({', '.join(KINDS)}) and a target: "
                             f"{spec!r}")

    def replacement(target: targets.Target) -> Any:
        if kind == "mock":
            source = spec.get("source")
            if not isinstance(source, str):
                raise InjectionError(f"the mock of {name} needs 'source'")
            try:
                fn = targets.compile_function(source, target, "mock")
            except targets.CompileError as exc:
                raise InjectionError(f"the mock of {name} does not compile: {exc.kind}: {exc}"
                                     ) from None
        elif kind == "stub":
            fn = _stub(_stub_value(spec.get("value"), target))
        else:
            spy = spies[name] = spies.get(name) or Spy(name)
            fn = spy.wrap(target.function)
        return targets.as_attribute(target, fn)

    try:
        return targets.patch_for(name, replacement, file_for(name))
    except targets.TargetError as exc:
        raise InjectionError(f"cannot {kind} {name}: {exc}") from None


@contextlib.contextmanager
def injected(specs: list[dict[str, Any]], file_for: Any = lambda name: None
             ) -> Iterator[dict[str, Spy]]:
    """Apply the injections; yield the spies by target; always undo everything."""
    spies: dict[str, Spy] = {}
    patches: list[targets.Patch] = []
    try:
        for spec in specs:
            patch = _build(spec, spies, file_for)
            patches.append(patch)
            patch.apply()
        yield spies
    finally:
        for patch in reversed(patches):
            try:
                patch.restore()
            except Exception:  # noqa: BLE001, S110  (keep undoing the others)
                pass
