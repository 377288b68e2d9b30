"""Evaluating expressions over recorded values, without the program and without side effects.

A recording holds each value as the text of its repr().  `evaluate(expr,
lookup)` parses the expression and walks its syntax tree itself (nothing is
compiled or run): names come from `lookup` (the frame's recorded locals, then
its module's globals); a value is rebuilt with `ast.literal_eval` from its
repr where it is a literal (numbers, strings, bytes, containers of them), and
is otherwise an `Opaque` object known only by its text.  An opaque value whose
repr is keyword-style (``Point(x=1, y=2)``, dataclasses, namedtuples) has
those fields as attributes; an object recorded with its attributes (the default
repr, format 1.3: `from_encoded`) has those.

Allowed: names, literals, attribute and item access, slicing, arithmetic,
comparisons, boolean logic, conditional expressions, displays, comprehensions
and a few pure builtins (len, min, max, sum, sorted, abs, round, str, repr,
int, float, bool, list, tuple, set, dict, any, all, range, enumerate, zip,
reversed) and non-mutating methods of builtin values.  Anything else, and
anything that needs the live program (calling its functions, an attribute
that was not recorded), is an `EvalError` with a clear message.  Sizes are
bounded so that no expression can take long.
"""

from __future__ import annotations

import ast
import operator
import time
from collections.abc import Callable
from typing import Any

from devsandbox.recorder.format import Shown, V, decode_value, object_attributes

MAX_SEQUENCE = 100_000
MAX_POW_BITS = 4096
MAX_STEPS = 200_000
MAX_SECONDS = 0.5  # the server answers everyone else meanwhile: keep evaluations short


class EvalError(Exception):
    """The expression cannot be evaluated over the recorded values."""


class Opaque:
    """A recorded object known only by its repr (and keyword fields, if it shows them)."""

    def __init__(self, text: str, fields: dict[str, Any] | None = None,
                 type_name: str | None = None, missing: str | None = None) -> None:
        self.text = text
        self.fields = fields
        self.type_name = type_name
        self.missing = missing  # what of its state was not recorded, if something was

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


class Truncated:
    """A value that was cut when recorded: only its text can be shown."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name

    def __repr__(self) -> str:
        return self.text


def from_repr(text: str, truncated: bool = False, name: str = "value") -> Any:
    """The value a recorded repr stands for (a Python literal, or Opaque/Truncated)."""
    if truncated:
        return Truncated(text, name)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    return _opaque(text)


def from_encoded(buf: bytes, pos: int, name: str = "value") -> Any:
    """The value encoded at `pos`: as `from_repr`, except that an object recorded with its
    attributes (format 1.3) is an Opaque whose fields are those attributes."""
    text, cut, _ = decode_value(buf, pos)
    if buf[pos] != V.OBJECT:
        return from_repr(text, cut, name)
    total, attrs = object_attributes(buf, pos)
    fields = {attr: from_encoded(buf, start, attr) for attr, start, _end in attrs}
    return Opaque(text, fields, _type_from_text(text),
                  missing=f"{total - len(attrs)} of its {total} attributes were not recorded"
                  if total > len(attrs) else None)


def from_recorded(found: Any, name: str = "value") -> Any:
    """The value of a recorded (text, truncated) pair, or of a `Shown` (see from_encoded)."""
    if isinstance(found, Shown):
        buf, pos = found.encoded
        return from_encoded(buf, pos, name)
    return from_repr(found[0], found[1], name)


def _opaque(text: str) -> Opaque:
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return Opaque(text, None, _type_from_text(text))
    if isinstance(node, ast.Call) and not node.args and node.keywords and all(
            k.arg for k in node.keywords):
        fields: dict[str, Any] = {}
        for kw in node.keywords:
            sub = ast.get_source_segment(text, kw.value)
            fields[kw.arg or ""] = from_repr(sub) if sub is not None else None
        return Opaque(text, fields, _dotted(node.func))
    return Opaque(text, None, _type_from_text(text))


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return None


def _type_from_text(text: str) -> str | None:
    if text.startswith("<") and " " in text:
        head = text[1:].split(" ", 1)[0]
        return head.rsplit(".", 1)[-1] if head not in ("class", "function", "module") else head
    return None


def show(value: Any) -> str:
    text = repr(value)
    return text


def type_name(value: Any) -> str:
    if isinstance(value, Opaque):
        return value.type_name or "object"
    if isinstance(value, Truncated):
        return "truncated"
    return type(value).__name__


# ---- the evaluator -------------------------------------------------------------------------

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
    ast.BitOr: operator.or_, ast.BitAnd: operator.and_, ast.BitXor: operator.xor,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Not: operator.not_,
    ast.Invert: operator.invert,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


def _bounded_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_SEQUENCE:
        raise EvalError(f"range of {len(r)} items is too long to evaluate here")
    return r


_BUILTINS: dict[str, Any] = {
    "len": len, "min": min, "max": max, "sum": sum, "sorted": sorted, "abs": abs,
    "round": round, "str": str, "repr": repr, "int": int, "float": float, "bool": bool,
    "list": list, "tuple": tuple, "set": set, "dict": dict, "frozenset": frozenset,
    "any": any, "all": all, "range": _bounded_range, "enumerate": enumerate, "zip": zip,
    "reversed": lambda x: list(reversed(x)), "divmod": divmod, "hex": hex, "oct": oct,
    "bin": bin, "chr": chr, "ord": ord,
    "None": None, "True": True, "False": False,
}

_MUTATING = frozenset({"append", "extend", "insert", "remove", "pop", "clear", "update", "add",
                       "discard", "setdefault", "popitem", "sort", "reverse",
                       "intersection_update", "difference_update",
                       "symmetric_difference_update"})
_SAFE_TYPES = (str, bytes, int, float, complex, bool, list, tuple, dict, set, frozenset,
               type(None), range)

Lookup = Callable[[str], Any]
"""name -> value (raise KeyError when the recording has no such name here)."""


def evaluate(expression: str, lookup: Lookup) -> Any:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise EvalError(f"invalid syntax: {exc.msg}") from None
    return _Evaluator(lookup).run(tree.body)


class _Evaluator:
    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.scopes: list[dict[str, Any]] = []
        self.steps = 0
        self.deadline = time.perf_counter() + MAX_SECONDS

    def run(self, node: ast.AST) -> Any:
        self.steps += 1
        if self.steps > MAX_STEPS or (self.steps % 256 == 0
                                      and time.perf_counter() > self.deadline):
            raise EvalError("the expression is too expensive to evaluate over the recording")
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise EvalError(f"{type(node).__name__} expressions cannot be evaluated over the "
                            "recording (only reading recorded values is possible)")
        try:
            return method(node)
        except (EvalError, RecursionError):
            raise
        except Exception as exc:  # noqa: BLE001  (an error of the expression, over the values)
            raise EvalError(f"{type(exc).__name__}: {exc}") from None

    def _Constant(self, node: ast.Constant) -> Any:
        return node.value

    def _Name(self, node: ast.Name) -> Any:
        for scope in reversed(self.scopes):
            if node.id in scope:
                return scope[node.id]
        try:
            return self.lookup(node.id)
        except KeyError:
            pass
        if node.id in _BUILTINS:
            return _BUILTINS[node.id]
        raise EvalError(f"name '{node.id}' is not defined at this step of the recording")

    def _value(self, node: ast.AST) -> Any:
        value = self.run(node)
        if isinstance(value, Truncated):
            raise EvalError(f"{ast.unparse(node)} was truncated when recorded ({value.text}); "
                            "only its text can be shown")
        return value

    def _Attribute(self, node: ast.Attribute) -> Any:
        base = self._value(node.value)
        if isinstance(base, Opaque):
            if base.fields is not None and node.attr in base.fields:
                return base.fields[node.attr]
            if base.missing:
                raise EvalError(f"{ast.unparse(node.value)} has no recorded attribute "
                                f"'{node.attr}' ({base.missing})")
            if base.fields is not None and base.text.endswith(">"):  # recorded with attributes
                raise EvalError(f"{ast.unparse(node.value)} ({base.text}) had no attribute "
                                f"'{node.attr}' at that moment")
            raise EvalError(
                f"the recording holds only the repr of {ast.unparse(node.value)} "
                f"({base.text}); its attribute '{node.attr}' was not recorded (evaluate it in "
                "the live program)")
        if node.attr.startswith("_") or not isinstance(base, _SAFE_TYPES):
            raise EvalError(f"attribute '{node.attr}' cannot be read over the recording")
        if node.attr in _MUTATING:
            raise EvalError(f"'{node.attr}' would change the value; the past is read-only")
        return getattr(base, node.attr)

    def _Subscript(self, node: ast.Subscript) -> Any:
        base = self._value(node.value)
        if isinstance(base, Opaque):
            raise EvalError(f"the recording holds only the repr of {ast.unparse(node.value)} "
                            f"({base.text}); its items were not recorded")
        return base[self.run(node.slice)]

    def _Slice(self, node: ast.Slice) -> Any:
        def part(n: ast.AST | None) -> Any:
            return None if n is None else self._value(n)
        return slice(part(node.lower), part(node.upper), part(node.step))

    def _Index(self, node: Any) -> Any:  # pragma: no cover - Python < 3.9 trees
        return self.run(node.value)

    def _BinOp(self, node: ast.BinOp) -> Any:
        left, right = self._value(node.left), self._value(node.right)
        op = type(node.op)
        if op is ast.Pow and isinstance(left, int) and isinstance(right, int) and right > 0 \
                and left not in (0, 1, -1) and right * max(left.bit_length(), 1) > MAX_POW_BITS:
            raise EvalError("the power is too large to evaluate here")
        if op is ast.Mult:
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and \
                        len(seq) * n > MAX_SEQUENCE:
                    raise EvalError("the repetition is too long to evaluate here")
        if op is ast.LShift and isinstance(right, int) and right > MAX_POW_BITS:
            raise EvalError("the shift is too large to evaluate here")
        if op not in _BINOPS:
            raise EvalError(f"operator {type(node.op).__name__} is not supported")
        return _BINOPS[op](left, right)

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        return _UNARY[type(node.op)](self._value(node.operand))

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        result: Any = None
        for value in node.values:
            result = self._value(value)
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
        return result

    def _Compare(self, node: ast.Compare) -> Any:
        left = self._value(node.left)
        for op, comp in zip(node.ops, node.comparators):
            right = self._value(comp)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _IfExp(self, node: ast.IfExp) -> Any:
        return self._value(node.body) if self._value(node.test) else self._value(node.orelse)

    def _Tuple(self, node: ast.Tuple) -> Any:
        return tuple(self._value(e) for e in node.elts)

    def _List(self, node: ast.List) -> Any:
        return [self._value(e) for e in node.elts]

    def _Set(self, node: ast.Set) -> Any:
        return {self._value(e) for e in node.elts}

    def _Dict(self, node: ast.Dict) -> Any:
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:
                out.update(self._value(v))
            else:
                out[self._value(k)] = self._value(v)
        return out

    def _JoinedStr(self, node: ast.JoinedStr) -> Any:
        return "".join(str(self.run(v)) for v in node.values)

    def _FormattedValue(self, node: ast.FormattedValue) -> Any:
        value = self._value(node.value)
        if node.conversion == ord("r"):
            value = repr(value)
        elif node.conversion == ord("s"):
            value = str(value)
        spec = self.run(node.format_spec) if node.format_spec is not None else ""
        return format(value, spec)

    def _Call(self, node: ast.Call) -> Any:
        func = self.run(node.func)
        if isinstance(node.func, ast.Name) and func is _BUILTINS.get(node.func.id) and callable(func):
            pass
        elif isinstance(node.func, ast.Attribute) and not isinstance(func, Opaque) and callable(func):
            pass  # a method of a builtin value (checked in _Attribute)
        else:
            raise EvalError(f"calling {ast.unparse(node.func)} needs the live program; over the "
                            "recording only reading values and a few pure builtins are possible")
        args = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                args.extend(self._value(a.value))
            else:
                args.append(self._value(a))
        kwargs = {k.arg: self._value(k.value) for k in node.keywords if k.arg}
        for a in args:
            if isinstance(a, (str, bytes, list, tuple, dict, set)) and len(a) > MAX_SEQUENCE:
                raise EvalError("the value is too large to process here")
        result = func(*args, **kwargs)
        if isinstance(result, (map, filter, zip, enumerate)):
            result = list(result)
            if len(result) > MAX_SEQUENCE:
                raise EvalError("the result is too large")
        return result

    # comprehensions

    def _comp(self, generators: list[ast.comprehension], emit: Callable[[], None]) -> None:
        def loop(i: int) -> None:
            if i == len(generators):
                emit()
                return
            gen = generators[i]
            for count, item in enumerate(self._value(gen.iter)):
                if count >= MAX_SEQUENCE:
                    raise EvalError("the comprehension is too long to evaluate here")
                self._bind(gen.target, item)
                if all(self._value(cond) for cond in gen.ifs):
                    loop(i + 1)
        self.scopes.append({})
        try:
            loop(0)
        finally:
            self.scopes.pop()

    def _bind(self, target: ast.AST, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.scopes[-1][target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = list(value)
            if len(values) != len(target.elts):
                raise EvalError("cannot unpack: wrong number of values")
            for t, v in zip(target.elts, values):
                self._bind(t, v)
        else:
            raise EvalError("unsupported comprehension target")

    def _ListComp(self, node: ast.ListComp) -> Any:
        out: list[Any] = []
        self._comp(node.generators, lambda: out.append(self._value(node.elt)))
        return out

    _GeneratorExp = _ListComp  # evaluated eagerly (bounded)

    def _SetComp(self, node: ast.SetComp) -> Any:
        out: set[Any] = set()
        self._comp(node.generators, lambda: out.add(self._value(node.elt)))
        return out

    def _DictComp(self, node: ast.DictComp) -> Any:
        out: dict[Any, Any] = {}

        def emit() -> None:
            out[self._value(node.key)] = self._value(node.value)
        self._comp(node.generators, emit)
        return out
