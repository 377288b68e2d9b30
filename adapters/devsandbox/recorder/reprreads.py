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
