"""Re-running one recorded call with modifications, recorded (``python -m devsandbox.replaycall SPEC``).

The server (server/devsandbox/recording/replaycall.py) writes SPEC, a JSON file:

    file, firstlineno   where the function is (its code is compiled with that
                        file name and line numbers, so that the new recording
                        lines up with the old one)
    source              the function's source (the recorded one, or new code)
    name                the function's name in that source
    arguments           {name: Python expression}: the call's arguments
    globals             {name: Python expression}: the module globals it reads
    opaque              {name: repr}: recorded globals that cannot be rebuilt
                        (objects known by their repr only): placeholders
    opaque_arguments    {name: repr}: the same for arguments
    stubs               {name: [expressions]}: functions it calls, answered
                        with what they gave back when recorded, in order (a
                        value, __devsandbox_opaque__(repr) for an object known by
                        its repr, __devsandbox_raise__(repr) for an exception)
    modules             [name]: modules it uses, imported for real
    out                 the new recording;  result: where to write the outcome

Only the function's own code is recorded.  The outcome (JSON): {"result":
repr} or {"exception": "Type: message"}.  Standard library only.
"""

from __future__ import annotations

import json
import sys
from typing import Any


class RecordedValue:
    """A value known only by its recorded repr: reading what it does not show is an error.
    A keyword-style repr (``Point(x=1, y=2)``) gives fields, which can be changed: the repr
    follows them."""

    def __init__(self, text: str, fields: dict[str, Any] | None = None,
                 type_name: str | None = None) -> None:
        object.__setattr__(self, "_text", text)
        object.__setattr__(self, "_fields", dict(fields or {}))
        object.__setattr__(self, "_type", type_name)

    def __repr__(self) -> str:
        if self._type is None:
            return self._text  # type: ignore[no-any-return]
        inner = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"{self._type}({inner})"

    def __getattr__(self, name: str) -> Any:
        fields = object.__getattribute__(self, "_fields")
        if name in fields:
            return fields[name]
        raise AttributeError(f"{name!r} of {self._text} was not recorded (only its repr was)")

    def __setattr__(self, name: str, value: Any) -> None:
        self._fields[name] = value


class Stub:
    """A function the replayed call calls: its recorded return values, in order."""

    def __init__(self, name: str, values: list[Any]) -> None:
        self.name = name
        self.values = list(values)
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if not self.values:
            raise RuntimeError(f"{self.name}() was called more often than in the recording "
                               f"(call {self.calls})")
        value = self.values.pop(0)
        if isinstance(value, Raise):
            raise value.exception()
        return value

    def __repr__(self) -> str:
        return f"<function {self.name} (recorded results)>"


class Raise:
    """A recorded exception a stub raises again (rebuilt from its repr when it can be)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def exception(self) -> BaseException:
        try:
            exc = eval(self.text, {"__builtins__": __builtins__})  # a recorded repr
        except Exception:  # noqa: BLE001  (not a builtin exception: described instead)
            exc = None
        if isinstance(exc, BaseException):
            return exc
        return RuntimeError(f"recorded exception: {self.text}")


def _value(expression: str, namespace: dict[str, Any]) -> Any:
    return eval(expression, namespace)  # the user's own modification, in this sandbox


def _opaque(text: str) -> RecordedValue:
    import ast

    fields: dict[str, Any] = {}
    type_name = None
    try:
        node = ast.parse(text, mode="eval").body
        if isinstance(node, ast.Call) and not node.args and node.keywords:
            type_name = ast.get_source_segment(text, node.func)
            for kw in node.keywords:
                segment = ast.get_source_segment(text, kw.value)
                if kw.arg and segment is not None:
                    try:
                        fields[kw.arg] = ast.literal_eval(segment)
                    except (ValueError, SyntaxError):
                        fields[kw.arg] = _opaque(segment)
    except SyntaxError:
        pass
    return RecordedValue(text, fields, type_name)


def _bind(func: Any, args: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments from the recorded parameters' values."""
    import inspect

    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for p in inspect.signature(func).parameters.values():
        if p.name not in args:
            continue
        value = args[p.name]
        if p.kind is p.VAR_POSITIONAL:
            positional.extend(value)
        elif p.kind is p.VAR_KEYWORD:
            keywords.update(value)
        elif p.kind is p.KEYWORD_ONLY:
            keywords[p.name] = value
        else:
            positional.append(value)
    return positional, keywords


def main(spec_path: str) -> int:
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    namespace: dict[str, Any] = {"__name__": "__devsandbox_replay__", "__builtins__": __builtins__,
                                 "__devsandbox_opaque__": _opaque, "__devsandbox_raise__": Raise}
    for name in spec.get("modules") or []:
        try:
            namespace[name] = __import__(name)
        except ImportError:
            namespace[name] = RecordedValue(f"<module {name!r}>")
    for name, text in (spec.get("opaque") or {}).items():
        namespace[name] = _opaque(text)
    for name, values in (spec.get("stubs") or {}).items():
        namespace[name] = Stub(name, [_value(v, namespace) for v in values])
    for name, expression in (spec.get("globals") or {}).items():
        namespace[name] = _value(expression, namespace)
    args = {name: _value(expression, namespace)
            for name, expression in (spec.get("arguments") or {}).items()}
    for name, text in (spec.get("opaque_arguments") or {}).items():
        args[name] = _opaque(text)
    code = compile("\n" * (spec["firstlineno"] - 1) + spec["source"], spec["file"], "exec")
    exec(code, namespace)  # noqa: S102  (defines the function, in this sandbox)
    func = namespace[spec["name"]]

    from . import recorder

    positional, keywords = _bind(func, args)
    outcome: dict[str, Any] = {}
    rec = recorder.start({"out": spec["out"], "include": [spec["file"]], "program": spec["file"]})
    try:
        result = func(*positional, **keywords)
        outcome["result"] = repr(result)
    except Exception as exc:  # noqa: BLE001  (the outcome of the replayed call)
        outcome["exception"] = f"{type(exc).__name__}: {exc}"
    finally:
        rec.stop("replayed call")
    with open(spec["result"], "w", encoding="utf-8") as f:
        json.dump(outcome, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
