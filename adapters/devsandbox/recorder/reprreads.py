"""Which instance attributes a class's ``__repr__`` shows.

The recorder tells whether a local holding an instance changed by fingerprinting
what its repr() plausibly shows: by default every attribute of the instance, and
the objects they lead to.  When the class's ``__repr__`` is a plain function that
uses ``self`` only as ``self.NAME`` (each a plain attribute: in the instance, or a
__slots__ entry, not a property), its repr depends on those attributes alone, so
only they need comparing: ``Square.__repr__`` returning ``repr(to_xy(self.pos))``
is unchanged whatever happens to the square's board or neighbours.

``reads(cls)`` gives those names (a tuple of str), or None when any attribute may
count (the repr passes ``self`` on, calls a method on it, reads a property or
``__dict__``, uses ``super()``...).  Called once per class by the C recorder.
"""

from __future__ import annotations

import sys
import types
from typing import Any

_LOAD_SELF = {"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_BORROW"}
# instructions naming locals (their argval: a name, or a pair of names)
_USES_LOCAL = {"STORE_FAST", "DELETE_FAST", "LOAD_FAST_AND_CLEAR", "LOAD_FAST_LOAD_FAST",
               "STORE_FAST_LOAD_FAST", "STORE_FAST_STORE_FAST", "LOAD_FAST_BORROW_LOAD_FAST_BORROW",
               "LOAD_DEREF", "LOAD_CLOSURE", "STORE_DEREF", "MAKE_CELL", "DELETE_DEREF"}
# 3.12+: LOAD_ATTR's low bit marks a method load (3.11 has LOAD_METHOD instead)
_METHOD_BIT = sys.version_info >= (3, 12)
# wrappers that only guard against recursion ("..."): the repr is the wrapped function's
_RECURSION_GUARDS = ("_recursive_repr.<locals>.wrapper",
                     "recursive_repr.<locals>.decorating_function.<locals>.wrapper")


def _repr_function(cls: type) -> Any:
    for klass in cls.__mro__:
        if "__repr__" in klass.__dict__:
            fn = klass.__dict__["__repr__"]
            break
    else:
        return None
    while isinstance(fn, types.FunctionType) and hasattr(fn, "__wrapped__"):
        if getattr(fn.__code__, "co_qualname", "") not in _RECURSION_GUARDS:
            return None
        fn = fn.__wrapped__
    return fn if isinstance(fn, types.FunctionType) else None


def _names(code: types.CodeType) -> set[str] | None:
    import dis  # only when a class with its own __repr__ is first met

    if code.co_argcount < 1 or code.co_flags & (0x20 | 0x80 | 0x200):  # generators, coroutines
        return None
    me = code.co_varnames[0]
    if me in code.co_cellvars:
        return None
    names: set[str] = set()
    ins = [i for i in dis.get_instructions(code) if i.opname not in ("CACHE", "EXTENDED_ARG")]
    for at, i in enumerate(ins):
        if i.opname == "LOAD_SUPER_ATTR" or (i.opname == "LOAD_GLOBAL" and i.argval == "super"):
            return None
        if i.opname in _LOAD_SELF and i.argval == me:
            nxt = ins[at + 1] if at + 1 < len(ins) else None
            if nxt is None or nxt.opname != "LOAD_ATTR" or not isinstance(nxt.argval, str):
                return None
            if nxt.arg is not None and nxt.arg & 1 and _METHOD_BIT:
                return None  # self.method(...): that method may read anything
            names.add(nxt.argval)
        elif i.opname in _USES_LOCAL:
            used = i.argval if isinstance(i.argval, tuple) else (i.argval,)
            if me in used:
                return None
    return names


_CODE_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type,
               types.ModuleType, staticmethod, classmethod)


def _is_data(value: Any) -> bool:
    return not isinstance(value, _CODE_TYPES)


def reads_data(cls: type) -> tuple[Any, ...]:
    """Where the class's ``__repr__`` reads data outside the instance: a module global that
    is not code, an attribute of a module named by a global (each as its namespace dict and
    name), or a closure's cell.  Such a repr may show something new while the instance
    stays as it was, so the recorder compares those values too."""
    found: list[Any] = []
    try:
        fn = _repr_function(cls)
        if fn is None:
            return ()
        import dis

        ins = [i for i in dis.get_instructions(fn.__code__)
               if i.opname not in ("CACHE", "EXTENDED_ARG")]
        globs, builtins = fn.__globals__, fn.__builtins__
        for at, i in enumerate(ins):
            if i.opname == "LOAD_GLOBAL":
                name = i.argval
                if name not in globs and isinstance(builtins, dict) and name in builtins:
                    continue  # a builtin
                value = globs.get(name)
                if name not in globs or _is_data(value):
                    found.append((globs, name))  # (not defined yet: whatever it will be)
                    continue
                nxt = ins[at + 1] if at + 1 < len(ins) else None
                if nxt is not None and nxt.opname == "LOAD_ATTR" and isinstance(
                        value, types.ModuleType) and _is_data(getattr(value, nxt.argval, None)):
                    found.append((value.__dict__, nxt.argval))
            elif i.opname in ("LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_FROM_DICT_OR_DEREF"):
                for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
                    if name == i.argval:
                        found.append(cell)
        return tuple(found)
    except Exception:  # noqa: BLE001 - any surprise: as before
        return tuple(found)


def reads(cls: type) -> tuple[str, ...] | None:
    try:
        fn = _repr_function(cls)
        if fn is None:
            return None
        names = _names(fn.__code__)
        if names is None:
            return None
        if any(k is not object and ("__getattr__" in k.__dict__ or "__getattribute__" in k.__dict__)
               for k in cls.__mro__):
            return None  # attributes computed on access
        shown = []
        for name in sorted(names):
            if name == "__class__":
                continue  # the class is compared anyway
            for klass in cls.__mro__:
                if name in klass.__dict__:
                    attr = klass.__dict__[name]
                    if isinstance(attr, types.MemberDescriptorType):
                        break  # a __slots__ entry: read where it is kept
                    if hasattr(type(attr), "__get__"):
                        return None  # a method, property or other descriptor: runs code
                    break  # a plain class attribute, unless the instance has its own
            shown.append(name)
        return tuple(shown)
    except Exception:  # noqa: BLE001 - any surprise: compare every attribute, as before
        return None


# ---- repr templates -----------------------------------------------------------------------
#
# A class whose __repr__ only formats the attributes it reads (f-strings, "%s"/"%r" and
# "%f"-like conversions without flags or width, str.format on constant strings, repr(),
# str(), format(), string concatenation) shows a text that is a function of those
# attributes' values alone.  ``template(cls, reads)`` finds that function by calling the
# repr on a blank instance whose attributes are stand-ins: each leaves a mark in the
# text saying which attribute went there and how it was converted (str, repr or format
# with a spec).  The recorder then writes the attributes' values (V.FMT) instead of
# calling the repr, and the reader renders the text from them with the same conversions.
# The recorder checks the first uses against the real repr and keeps to the real repr
# for values the template cannot stand for.

_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
# "%f" and its kin in a constant format string: in the copy of the repr that runs on the
# stand-ins, "%s" after the conversion's spec between these (see _percent_probe)
_PCT_OPEN, _PCT_CLOSE = "\ue002", "\ue003"
# a %-conversion that means format(value, spec) for the values a field takes: a precision
# and a float type, or %d / %i for ints (no flags or width: those mean other things there)
_PERCENT = r"%%|%(?:\.(\d{1,2}))?([fFeEgGdi])"
# what a template's code may do (3.11 to 3.13): load and store locals, read attributes
# and constants, format, build strings and tuples, call repr/str/format and a constant
# string's format/join, and return
_TEMPLATE_OPS = {
    "RESUME", "NOP", "LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_BORROW", "STORE_FAST",
    "LOAD_FAST_LOAD_FAST", "LOAD_FAST_BORROW_LOAD_FAST_BORROW", "STORE_FAST_LOAD_FAST",
    "STORE_FAST_STORE_FAST", "LOAD_ATTR", "LOAD_METHOD", "LOAD_CONST", "LOAD_SMALL_INT",
    "RETURN_VALUE", "RETURN_CONST", "FORMAT_VALUE", "FORMAT_SIMPLE", "FORMAT_WITH_SPEC",
    "CONVERT_VALUE", "BUILD_STRING", "BUILD_TUPLE", "BUILD_LIST", "BINARY_OP", "LOAD_GLOBAL",
    "PUSH_NULL", "PRECALL", "CALL", "KW_NAMES", "CALL_KW", "CACHE", "EXTENDED_ARG", "COPY",
    "SWAP", "POP_TOP",
}
_TEMPLATE_GLOBALS = {"repr": repr, "str": str, "format": format}
_TEMPLATE_ATTRS = {"__class__", "__qualname__", "__name__"}
_BINARY_OK = {0, 6}  # NB_ADD (string concatenation), NB_REMAINDER ("%s" % ...)
# [[fill]align][sign][z][#][0][width][grouping][.precision][type]
_SPEC = None
_SPEC_TEXT = (r"(?:.?[<>=^])?[+\- ]?z?#?0?(?P<width>\d+)?[,_]?(?:\.(?P<prec>\d+))?"
              r"(?P<type>[bdoxXeEfFgG%s]?)")
# value kinds a field accepts (the recorder's bit for each exact type)
K_INT, K_FLOAT, K_STR, K_BOOL, K_NONE = 1, 2, 4, 8, 16


class _Text(str):
    """What str() or repr() of a stand-in gives.  Formatting it with a spec would pad or
    cut the stand-in's text, not the value's: refused."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        if spec:
            raise TypeError("a spec applied to a converted attribute")
        return str.__str__(self)


class _StandIn:
    """An attribute's place in a repr: every use other than str(), repr() and format()
    raises, so that the template is refused."""

    __slots__ = ("_at",)

    def __init__(self, at: int) -> None:
        object.__setattr__(self, "_at", at)

    def _mark(self, how: str) -> str:
        return f"{_MARK_OPEN}{object.__getattribute__(self, '_at')}{how}{_MARK_CLOSE}"

    def __repr__(self) -> str:
        return _Text(self._mark("r"))

    def __str__(self) -> str:
        return _Text(self._mark("s"))

    def __format__(self, spec: str) -> str:
        if _MARK_OPEN in spec or _MARK_CLOSE in spec:
            raise TypeError("a mark in a spec")
        return self._mark("f" + spec) if spec else self._mark("s")

    def __getattribute__(self, name: str) -> Any:
        if name == "_mark":
            return object.__getattribute__(self, name)
        raise AttributeError(name)

    def _refuse(self, *args: Any) -> Any:
        raise TypeError("an attribute used other than by formatting")

    __bool__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = _refuse
    __int__ = __float__ = __index__ = __len__ = __setattr__ = __call__ = _refuse


def _template_code_ok(fn: types.FunctionType, globs: dict[str, Any], names: tuple[str, ...]) -> bool:
    import dis
    import re

    code = fn.__code__
    if fn.__closure__ or code.co_freevars or code.co_cellvars:
        return False
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            return False
        # "%s", "%r" and those _percent_probe turns into "%s": a width or a flag would pad
        # the stand-in's text
        if isinstance(const, str) and re.search(r"%[^sr]", re.sub(_PERCENT, "", const)):
            return False
    builtins_ok = isinstance(fn.__builtins__, dict) if hasattr(fn, "__builtins__") else True
    prev = None
    for ins in dis.get_instructions(code):
        op = ins.opname
        if op not in ("CACHE", "EXTENDED_ARG"):
            prev, ins_prev = ins, prev
        else:
            continue
        if op not in _TEMPLATE_OPS:
            return False
        if op == "BINARY_OP" and ins.arg not in _BINARY_OK:
            return False
        if op == "LOAD_GLOBAL":
            name = ins.argval
            if name not in _TEMPLATE_GLOBALS or name in globs or not builtins_ok:
                return False
            b = fn.__builtins__
            if (b.get(name) if isinstance(b, dict) else getattr(b, name, None)) \
                    is not _TEMPLATE_GLOBALS[name]:
                return False
        if op in ("LOAD_ATTR", "LOAD_METHOD"):
            name = ins.argval
            if name in ("format", "join"):  # only a constant string's
                if ins_prev is None or ins_prev.opname != "LOAD_CONST" or not isinstance(
                        ins_prev.argval, str):
                    return False
            elif name not in names and name not in _TEMPLATE_ATTRS:
                return False  # a method of a converted value (.upper()...)
    return True


def _field(at: int, how: str, nreads: int) -> tuple[int, str, str, int, int, bool] | None:
    """(attribute index, conversion 's'/'r'/'f', spec, value kinds accepted, the text's
    length bound beyond the value's own, whether the bound needs |value| < 1e15)."""
    import re

    global _SPEC
    if at >= nreads:
        return None
    if how in ("s", "r"):
        return (at, how, "", K_INT | K_FLOAT | K_STR | K_BOOL | K_NONE, 0, False)
    if not how.startswith("f"):
        return None  # a mark changed by what the repr did with it
    spec = how[1:]
    if _SPEC is None:
        _SPEC = re.compile(_SPEC_TEXT)
    m = _SPEC.fullmatch(spec)
    if not m:
        return None
    width = int(m["width"] or 0)
    prec = int(m["prec"] or 0)
    if width > 200 or prec > 60:
        return None
    kind = m["type"]
    if kind in ("b", "d", "o", "x", "X"):
        return (at, "f", spec, K_INT | K_BOOL, width + 100, False)
    if kind in ("e", "E", "f", "F", "g", "G", "%"):
        return (at, "f", spec, K_INT | K_FLOAT | K_BOOL, width + prec + 60, kind in "fF%")
    if kind == "s":
        return (at, "f", spec, K_STR, width, False)
    # no type: an int, float or str (a precision cuts a str; 'g'-like for a float)
    return (at, "f", spec, K_INT | K_FLOAT | K_STR | K_BOOL, width + prec + 60, False)


def _percent_probe(fn: types.FunctionType) -> types.FunctionType:
    """`fn`, or a copy whose constant strings have each "%f"-like conversion (_PERCENT) as
    "%s" after its spec between _PCT_OPEN and _PCT_CLOSE: a stand-in cannot be formatted
    as a number, and "%.2f" % x is format(x, ".2f") for the ints, floats and bools such a
    field takes.  A constant used otherwise than as a format string keeps the spec's
    bracket before a text that is no mark, which refuses the template."""
    import re

    def convert(m: re.Match[str]) -> str:
        if m[0] == "%%":
            return "%%"
        spec = (f".{m[1]}" if m[1] else "") + ("d" if m[2] == "i" else m[2])
        return f"{_PCT_OPEN}{spec}{_PCT_CLOSE}%s"

    code = fn.__code__
    consts = tuple(re.sub(_PERCENT, convert, c) if isinstance(c, str) else c
                   for c in code.co_consts)
    if consts == code.co_consts:
        return fn
    return types.FunctionType(code.replace(co_consts=consts), fn.__globals__, fn.__name__,
                              fn.__defaults__, fn.__closure__)


def template(cls: type, names: tuple[str, ...]) -> tuple[Any, ...] | None:
    """The pieces of the text ``cls.__repr__`` shows: a str (shown as is) or a field
    (see _field) per attribute use, in order; None when its repr is not such a template."""
    import re

    try:
        fn = _repr_function(cls)
        if fn is None or not names or not _template_code_ok(fn, fn.__globals__, names):
            return None
        if cls.__repr__ is not fn and getattr(cls.__repr__, "__wrapped__", None) is not fn:
            return None
        blank = object.__new__(cls)
        for at, name in enumerate(names):
            object.__setattr__(blank, name, _StandIn(at))
        probe = _percent_probe(fn)
        text = cls.__repr__(blank) if probe is fn else probe(blank)
        if type(text) not in (str, _Text):
            return None
        text = str.__str__(text)
        pieces: list[Any] = []
        pos = 0
        for m in re.finditer(f"{_MARK_OPEN}(\\d+)([^{_MARK_CLOSE}]*){_MARK_CLOSE}", text):
            literal, how = text[pos:m.start()], m[2]
            pct = re.search(f"{_PCT_OPEN}([^{_PCT_CLOSE}]*){_PCT_CLOSE}$", literal)
            if pct and how == "s":  # "%.2f" % (a stand-in): format() with ".2f"
                literal, how = literal[:pct.start()], "f" + pct[1]
            if literal:
                pieces.append(literal)
            field = _field(int(m[1]), how, len(names))
            if field is None:
                return None
            pieces.append(field)
            pos = m.end()
        if pos < len(text):
            pieces.append(text[pos:])
        if any(isinstance(p, str) and any(c in p for c in (_MARK_OPEN, _MARK_CLOSE, _PCT_OPEN,
                                                            _PCT_CLOSE)) for p in pieces):
            return None  # a mark was cut or changed, or a spec stands before no field
        return tuple(pieces)
    except Exception:  # noqa: BLE001 - a repr that is not a template
        return None
