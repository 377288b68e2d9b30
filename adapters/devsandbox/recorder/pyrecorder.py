"""The pure-Python recorder: the fallback where the C extension cannot load.

It writes exactly the format of the native recorder (see format.py) from a
``sys.settrace`` tracer, so the reader and every tool work the same; it is
about 50 times slower, because every local of every event is encoded (its
encoding is compared with the previous one to find what changed).
"""

from __future__ import annotations

import _thread
import struct
import sys
import threading
import time
from types import CodeType, FrameType
from typing import Any, Callable

from . import format as fmt
from .format import E, V

_SCALARS = (int, float, str, bytes, bool, type(None), complex)
_CONTAINERS = {list: V.LIST, tuple: V.TUPLE, set: V.SET, frozenset: V.FROZENSET, dict: V.DICT}
_INT64 = 1 << 63


def _varint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _text(out: bytearray, tag: int, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    out.append(tag)
    _varint(out, len(data))
    out += data


class Encoder:
    """Values to bytes, with the same limits and rules as values.c."""

    def __init__(self, limits: dict[str, int]) -> None:
        self.max_depth = max(1, limits.get("max_depth", 3))
        self.max_items = max(1, limits.get("max_items", 64))
        self.max_str = max(1, limits.get("max_str", 1000))
        self.max_repr = max(8, limits.get("max_repr", 2000))
        self.budget = limits.get("repr_budget_ns", 20_000_000) / 1e9
        self.attributes = bool(limits.get("attributes", 0))
        self.slow: set[type] = set()
        self._active: set[int] = set()

    def encode(self, out: bytearray, o: Any, depth: int = 0) -> None:
        t = type(o)
        if t is int:
            if -_INT64 <= o < _INT64:
                out.append(V.INT)
                _varint(out, ((o << 1) ^ (o >> 63)) & 0xFFFFFFFFFFFFFFFF)
            else:
                try:
                    _text(out, V.BIGINT, str(o))
                except ValueError:
                    _text(out, V.REPR_ERROR, "<int too large to show>")
        elif t is str:
            if len(o) <= self.max_str:
                _text(out, V.STR, o)
            else:
                out.append(V.STR_TRUNC)
                _varint(out, len(o))
                data = o[: self.max_str].encode("utf-8", "surrogatepass")
                _varint(out, len(data))
                out += data
        elif t is float:
            out.append(V.FLOAT)
            out += struct.pack("<d", o)
        elif o is None:
            out.append(V.NONE)
        elif t is bool:
            out.append(V.TRUE if o else V.FALSE)
        elif t in _CONTAINERS:
            self._container(out, o, _CONTAINERS[t], depth)
        elif t is bytes:
            if len(o) <= self.max_str:
                out.append(V.BYTES)
            else:
                out.append(V.BYTES_TRUNC)
                _varint(out, len(o))
                o = o[: self.max_str]
            _varint(out, len(o))
            out += o
        elif t is complex:
            out.append(V.COMPLEX)
            out += struct.pack("<dd", o.real, o.imag)
        elif (self.attributes and depth == 0 and t.__repr__ is object.__repr__
              and t.__flags__ & _HEAPTYPE):  # a local's own object (as values.c)
            self._object(out, o, t, depth)
        else:
            self._repr(out, o)

    def _object(self, out: bytearray, o: Any, t: type, depth: int) -> None:
        """An object with the default repr: that text and its attributes (V.OBJECT)."""
        attrs: list[tuple[str, Any]] = []
        try:
            d = object.__getattribute__(o, "__dict__")
        except AttributeError:
            d = None
        if type(d) is dict:
            attrs.extend((k, v) for k, v in list(d.items()) if type(k) is str)
        for klass in t.__mro__:
            if not klass.__flags__ & _HEAPTYPE:
                break
            for name in sorted(_slot_names(klass)):
                try:
                    attrs.append((name, klass.__dict__[name].__get__(o, t)))
                except (AttributeError, KeyError):
                    pass
        _text(out, V.OBJECT, object.__repr__(o))
        shown = attrs[: self.max_items]
        _varint(out, len(attrs))
        _varint(out, len(shown))
        for name, value in shown:
            data = name.encode("utf-8", "surrogatepass")
            _varint(out, len(data))
            out += data
            self.encode(out, value, depth + 1)

    def _container(self, out: bytearray, o: Any, tag: int, depth: int) -> None:
        total = len(o)
        if total and depth >= self.max_depth:
            out += bytes((V.DEEP, tag))
            _varint(out, total)
            return
        if id(o) in self._active:
            out += bytes((V.RECUR, tag))
            return
        self._active.add(id(o))
        try:
            items = list(o.items()) if tag == V.DICT else list(o)
            shown = items[: self.max_items]
            out.append(tag)
            _varint(out, total)
            _varint(out, len(shown))
            for item in shown:
                if tag == V.DICT:
                    self.encode(out, item[0], depth + 1)
                    self.encode(out, item[1], depth + 1)
                else:
                    self.encode(out, item, depth + 1)
        finally:
            self._active.discard(id(o))

    def _repr(self, out: bytearray, o: Any) -> None:
        t = type(o)
        if t in self.slow:
            _text(out, V.REPR_SLOW,
                  f"<{t.__module__}.{t.__qualname__} object at {id(o):#x} (repr skipped: slow)>")
            return
        t0 = time.perf_counter()
        try:
            r = repr(o)
        except Exception as exc:  # noqa: BLE001 - shown, like the native recorder
            _text(out, V.REPR_ERROR, f"<repr failed: {type(exc).__name__}>")
            return
        finally:
            if time.perf_counter() - t0 > self.budget:
                self.slow.add(t)
        if not isinstance(r, str):
            _text(out, V.REPR_ERROR, "<repr returned a non-string>")
        elif len(r) <= self.max_repr:
            _text(out, V.REPR, r)
        else:
            out.append(V.REPR_TRUNC)
            _varint(out, len(r))
            data = r[: self.max_repr].encode("utf-8", "surrogatepass")
            _varint(out, len(data))
            out += data


class _Frame:
    __slots__ = ("frame", "fid", "cid", "line", "shadow")

    def __init__(self, frame: FrameType, fid: int, cid: int, line: int) -> None:
        self.frame = frame
        self.fid = fid
        self.cid = cid
        self.line = line
        self.shadow: dict[str, bytes] = {}


class _Thread:
    __slots__ = ("tid", "stack", "step", "epoch", "first_step", "ident", "native_id", "clock_us")

    def __init__(self, tid: int) -> None:
        self.tid = tid
        self.ident = threading.get_ident()
        self.native_id = threading.get_native_id()
        self.stack: list[_Frame] = []
        self.step = 0
        self.epoch = -1
        self.first_step = 0
        self.clock_us = 0  # its last CLOCK record in this chunk (µs since the clock origin)


def _type_name(t: type) -> str:
    mod = getattr(t, "__module__", "builtins")
    return t.__qualname__ if mod == "builtins" else f"{mod}.{t.__qualname__}"


_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement


def _slot_names(klass: type) -> list[str]:
    slots = klass.__dict__.get("__slots__", ())
    if isinstance(slots, str):
        slots = (slots,)
    return [s for s in slots if isinstance(s, str) and s not in ("__dict__", "__weakref__")]


class PythonBackend:
    name = "python"
    mode = "settrace"

    def __init__(self, scope: Callable[[CodeType], bool], limits: dict[str, int]) -> None:
        self.scope = scope
        self.enc = Encoder(limits)
        self.flush_bytes = limits.get("flush_bytes", 1 << 20)
        self.clock_origin_ns = 0  # call and return times (format 1.2) when set
        self._lock = threading.Lock()
        self._active = False
        self._flush: Callable[[], None] | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self.defs = bytearray()
        self.ev = bytearray()
        self.strs: dict[str, int] = {}
        self.codes: dict[CodeType, int] = {}  # in scope: id; out of scope: 0
        self.types: dict[type, int] = {}
        self.threads: dict[int, _Thread] = {}  # tid -> thread
        self._tls = threading.local()
        self.nframes = 0
        self.nevents = 0
        self.epoch = 0
        self.cur_tid = 0
        self._saved_start: Any = None

    # ---- definitions ----------------------------------------------------

    def _str(self, s: str) -> int:
        i = self.strs.get(s)
        if i is None:
            i = self.strs[s] = len(self.strs) + 1
            _text(self.defs, fmt.D.STR, s)
        return i

    def _code(self, code: CodeType) -> int:
        cid = self.codes.get(code)
        if cid is None:
            if not self.scope(code):
                cid = self.codes[code] = 0
            else:
                f, q, n = (self._str(code.co_filename), self._str(code.co_qualname),
                           self._str(code.co_name))
                self.defs.append(fmt.D.CODE)
                for v in (f, q, n, code.co_firstlineno, code.co_flags):
                    _varint(self.defs, v)
                cid = self.codes[code] = sum(1 for c in self.codes.values() if c) + 1
        return cid

    def _thread(self) -> _Thread:
        th: _Thread | None = getattr(self._tls, "th", None)  # thread idents are reused
        if th is None or th.tid not in self.threads:
            ident = threading.get_ident()
            th = self._tls.th = _Thread(len(self.threads) + 1)
            self.threads[th.tid] = th
            t = threading._active.get(ident)  # type: ignore[attr-defined]
            name = self._str(t.name) if t is not None else 0
            self.defs.append(fmt.D.THREAD)
            _varint(self.defs, ident)
            _varint(self.defs, threading.get_native_id())
            _varint(self.defs, name)
        return th

    # ---- tracing ----------------------------------------------------------

    def _global(self, frame: FrameType, event: str, arg: Any) -> Any:
        if not self._active:
            return None
        with self._lock:
            cid = self._code(frame.f_code)
            if not cid:
                return None
            self._event(frame, cid, event, arg)
        self._maybe_flush()
        return self._local

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if not self._active:
            return None
        if event in ("call", "line", "return", "exception"):
            with self._lock:
                cid = self._code(frame.f_code)
                if cid:
                    self._event(frame, cid, event, arg)
            self._maybe_flush()
        return self._local

    def _maybe_flush(self) -> None:
        if len(self.ev) >= self.flush_bytes and self._flush is not None:
            self._flush()

    def _diff(self, out: bytearray, fr: _Frame) -> None:
        try:
            loc = dict(fr.frame.f_locals)
        except Exception:  # noqa: BLE001
            return
        shadow = fr.shadow
        for name, value in loc.items():
            if not isinstance(name, str):
                continue
            enc = bytearray()
            self.enc.encode(enc, value)
            if shadow.get(name) != enc:
                shadow[name] = bytes(enc)
                out.append(E.SET)
                _varint(out, self._str(name))
                out += enc
        for name in [n for n in shadow if n not in loc]:
            del shadow[name]
            out.append(E.DEL)
            _varint(out, self._str(name))

    def _head(self, out: bytearray, op: int, fr: _Frame) -> None:
        out.append(op)
        _varint(out, fr.fid)
        _varint(out, fr.cid)
        _varint(out, max(fr.line, 0))

    def _push(self, th: _Thread, frame: FrameType, cid: int, line: int) -> _Frame:
        self.nframes += 1
        fr = _Frame(frame, self.nframes, cid, line)
        th.stack.append(fr)
        return fr

    def _keyframe(self, out: bytearray, th: _Thread, frame: FrameType) -> None:
        live = set()
        f: FrameType | None = frame
        while f is not None:
            live.add(id(f))
            f = f.f_back
        th.stack = [fr for fr in th.stack if id(fr.frame) in live]
        out.append(E.KEYFRAME)
        _varint(out, th.step)
        _varint(out, len(th.stack))
        for fr in th.stack:
            fr.shadow = {}
            self._head(out, E.KFRAME, fr)
            self._diff(out, fr)
        th.epoch = self.epoch
        th.first_step = th.step
        th.clock_us = 0  # the chunk's first CLOCK of the thread: since the origin

    def _clock(self, out: bytearray, th: _Thread) -> None:
        """A CLOCK record (format 1.2): the time of the call, return or pop that follows."""
        us = max((time.monotonic_ns() - self.clock_origin_ns) // 1000, th.clock_us)
        out.append(E.CLOCK)
        _varint(out, us - th.clock_us)
        th.clock_us = us

    def _event(self, frame: FrameType, cid: int, event: str, arg: Any) -> None:
        th = self._thread()
        out = bytearray()
        if th.epoch != self.epoch:
            self._keyframe(out, th, frame)
        line = frame.f_lineno or 0
        if event == "call":
            fr = self._push(th, frame, cid, line)
            if self.clock_origin_ns:
                self._clock(out, th)
            self._head(out, E.CALL, fr)
        else:
            fr = self._frame_for(out, th, frame, cid, line)
            fr.line = line
            if event == "line":
                out.append(E.LINE)
                _varint(out, line)
            elif event == "return":
                if self.clock_origin_ns:
                    self._clock(out, th)
                out.append(E.RETURN)
                _varint(out, line)
                self.enc.encode(out, arg)
            else:
                etype, value = arg[0], arg[1]
                tid = self.types.get(etype)
                if tid is None:
                    tid = self.types[etype] = self._str(_type_name(etype))
                out.append(E.EXCEPTION)
                _varint(out, line)
                _varint(out, tid)
                self.enc.encode(out, value)
        self._diff(out, fr)
        if event == "return":
            th.stack.pop()
        th.step += 1
        self.nevents += 1
        if self.cur_tid != th.tid:
            self.ev.append(E.THREAD)
            _varint(self.ev, th.tid)
            self.cur_tid = th.tid
        self.ev += out

    def _frame_for(self, out: bytearray, th: _Thread, frame: FrameType, cid: int,
                   line: int) -> _Frame:
        stack = th.stack
        if stack and stack[-1].frame is frame:
            return stack[-1]
        for i in range(len(stack) - 2, -1, -1):
            if stack[i].frame is frame:
                n = len(stack) - 1 - i
                if self.clock_origin_ns:
                    self._clock(out, th)
                out.append(E.POP)
                _varint(out, n)
                del stack[i + 1 :]
                return stack[-1]
        fr = self._push(th, frame, cid, line)
        self._head(out, E.ENTER, fr)
        self._diff(out, fr)
        return fr

    # ---- control (same interface as NativeBackend) ------------------------

    def start(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._active = True
        self.epoch += 1
        real_start = _thread.start_new_thread
        self._saved_start = real_start
        tracer = self._global

        def start_new_thread(function: Any, args: Any, kwargs: Any = None) -> int:
            def bootstrap(*a: Any, **k: Any) -> Any:
                sys.settrace(tracer)
                return function(*a, **k)

            return real_start(bootstrap, args, kwargs or {})

        _thread.start_new_thread = start_new_thread
        threading.settrace(tracer)
        # frames already running in this thread
        f: FrameType | None = sys._getframe(1)
        while f is not None:
            if self._code(f.f_code):
                f.f_trace = self._local
            f = f.f_back
        sys.settrace(tracer)

    def stop(self) -> None:
        self._active = False
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
        if self._saved_start is not None:
            _thread.start_new_thread = self._saved_start
            self._saved_start = None

    def take(self) -> tuple[bytes, bytes, list[tuple[int, int, int]], int]:
        with self._lock:
            info = [(th.tid, th.first_step, th.step - th.first_step)
                    for th in self.threads.values() if th.epoch == self.epoch]
            defs, ev = bytes(self.defs), bytes(self.ev)
            self.defs = bytearray()
            self.ev = bytearray()
            self.cur_tid = 0
            self.epoch += 1
            return defs, ev, info, self.nevents

    def stats(self) -> dict[str, Any]:
        return {"events": self.nevents, "threads": len(self.threads),
                "codes": sum(1 for c in self.codes.values() if c)}

    def threads(self) -> list[tuple[int, int, int, int, int]]:
        return [(th.tid, th.ident, th.native_id, th.step, len(th.stack))
                for th in list(self.threads.values())]

    def mark(self, kind: str, payload: str, ident: int | None = None) -> bool:
        if not self._active or (ident is not None and ident != threading.get_ident()):
            return False  # marks for other threads: native recorder only
        with self._lock:
            th = self._thread()
            if self.cur_tid != th.tid:
                self.ev.append(E.THREAD)
                _varint(self.ev, th.tid)
                self.cur_tid = th.tid
            self.ev.append(E.MARK)
            _varint(self.ev, self._str(kind))
            data = payload.encode("utf-8", "surrogatepass")
            _varint(self.ev, len(data))
            self.ev += data
        return True

    def reset(self) -> None:
        self._reset_state()
