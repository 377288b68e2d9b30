"""Installs the native recorder's hooks (devsandbox._tracer).

3.11: the tee owns every thread's trace slot.  ``sys.settrace`` and
``sys.gettrace`` are replaced so that a tracer set later (pydevd, coverage,
the program) goes *behind* the tee instead of replacing it; new
``threading`` threads get a tee through ``threading.settrace`` and raw
``_thread.start_new_thread`` threads through a wrapper.

3.12+: sys.monitoring under our own tool id.  PY_START and PY_RESUME are
global (to discover code objects), and so are PY_THROW, PY_UNWIND and RAISE
(they cannot be set per code object); code in scope gets its other events through
``set_local_events`` (pydevd's ``restart_events`` re-enables locations that
returned DISABLE, so DISABLE is not relied on).  Code outside the scope is not
disabled either: its starts tell the recorder that code it does not record ran
(the next step compares every local).
"""

from __future__ import annotations

import _thread
import sys
import threading
from typing import Any, Callable

from .. import _tracer  # type: ignore[attr-defined]

MODE: str = _tracer.MODE
TOOL_IDS = (3, 4, 5, 1)
TOOL_NAME = "devsandbox-recorder"
_EVENTS_USED: set[int] = set()


def _thread_hook(frame: Any, event: str, arg: Any) -> None:  # pragma: no cover - marker only
    return None


def global_names(code: Any) -> tuple[str, ...]:
    """The names a function loads, rebinds or deletes as globals (option "globals"; the
    recorder shows those that are data in its module, not functions, classes or modules)."""
    import dis

    names = [ins.argval for ins in dis.get_instructions(code)
             if ins.opname in ("LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL")
             and isinstance(ins.argval, str)]
    return tuple(dict.fromkeys(names))


_GLOBAL_STORES: tuple[bytes, bytes] | None = None


def written_globals(code: Any) -> tuple[str, ...]:
    """The names a function rebinds or deletes as globals (``global X; X += 1``), recorded
    by default: without them the past would show the module frame's value, from before the
    call.  Most functions have no such instruction: one pass over the opcodes says so."""
    global _GLOBAL_STORES
    if _GLOBAL_STORES is None:
        import opcode

        _GLOBAL_STORES = (bytes([opcode.opmap["STORE_GLOBAL"]]),
                          bytes([opcode.opmap["DELETE_GLOBAL"]]))
    ops = code.co_code[::2]  # 2-byte code units: the opcode first (inline caches are zeroed)
    if _GLOBAL_STORES[0] not in ops and _GLOBAL_STORES[1] not in ops:
        return ()
    import dis

    names = [ins.argval for ins in dis.get_instructions(code)
             if ins.opname in ("STORE_GLOBAL", "DELETE_GLOBAL") and isinstance(ins.argval, str)]
    return tuple(dict.fromkeys(names))


_GLOBALS: dict[Any, Callable[[Any], tuple[str, ...]]] = {
    True: global_names, "all": global_names, "written": written_globals}


class NativeBackend:
    name = "native"

    def __init__(self, scope: Callable[[Any], bool], limits: dict[str, int]) -> None:
        self.scope = scope
        self.limits = limits
        self.tool_id = -1
        self.item_diffs = False
        self.capture_globals: bool | str = False  # True / "all", "written" or False
        self.clock_origin_ns = 0  # call and return times (format 1.2) when set
        self._saved: dict[str, Any] = {}
        self._settrace: Any = None

    def take(self) -> Any:
        return _tracer.take()

    def untrace_current_thread(self) -> None:
        """The recorder's own threads run untraced (the tee is per thread on 3.11)."""
        if MODE == "tee":
            _tracer.uninstall_tee()

    def stats(self) -> dict[str, Any]:
        return dict(_tracer.stats())

    def mark(self, kind: str, payload: str, ident: int | None = None) -> bool:
        return bool(_tracer.mark(kind, payload, ident))

    def threads(self) -> list[tuple[int, int, int, int, int]]:
        return list(_tracer.threads())

    def start(self, flush: Callable[[], None]) -> None:
        kwargs: dict[str, Any] = dict(self.limits, item_diffs=self.item_diffs,
                                      globals=_GLOBALS.get(self.capture_globals),
                                      clock_origin_ns=self.clock_origin_ns)
        if MODE == "monitoring":
            mon = sys.monitoring
            for tool in TOOL_IDS:
                if mon.get_tool(tool) is None:
                    mon.use_tool_id(tool, TOOL_NAME)
                    self.tool_id = tool
                    break
            else:
                raise RuntimeError("no free sys.monitoring tool id for the recorder")
            ev = mon.events
            kwargs.update(
                set_local_events=mon.set_local_events, disable=mon.DISABLE, tool_id=self.tool_id,
                local_events=(ev.PY_START | ev.PY_RESUME | ev.PY_RETURN | ev.PY_YIELD
                              | ev.STOP_ITERATION | ev.LINE | ev.JUMP),
            )
        _tracer.configure(self.scope, flush, threading._active, **kwargs)  # type: ignore[attr-defined]
        _tracer.start()
        if MODE == "monitoring":
            self._start_monitoring()
            from . import debugger

            debugger.install(None)
        else:
            self._start_tee()

    def _start_monitoring(self) -> None:
        mon = sys.monitoring
        ev = mon.events
        tool = self.tool_id
        for events, cb in (
            ((ev.PY_START, ev.PY_RESUME), _tracer.mon_start),
            ((ev.PY_THROW,), _tracer.mon_throw),
            ((ev.LINE,), _tracer.mon_line),
            ((ev.PY_RETURN, ev.PY_YIELD), _tracer.mon_return),
            ((ev.PY_UNWIND,), _tracer.mon_unwind),
            ((ev.RAISE, ev.STOP_ITERATION), _tracer.mon_raise),
            ((ev.JUMP,), _tracer.mon_jump),
        ):
            for e in events:
                mon.register_callback(tool, e, cb)
                _EVENTS_USED.add(e)
        # frames already running: their code needs its local events now
        for top in sys._current_frames().values():
            f = top
            while f is not None:
                _tracer.prime(f.f_code)
                f = f.f_back
        # PY_THROW, PY_UNWIND and RAISE cannot be set per code object
        mon.set_events(tool, ev.PY_START | ev.PY_RESUME | ev.PY_THROW | ev.PY_UNWIND | ev.RAISE)

    def _start_tee(self) -> None:
        self._saved = {
            "settrace": sys.settrace,
            "gettrace": sys.gettrace,
            "start_new_thread": _thread.start_new_thread,
            "thread_hook": threading._trace_hook,  # type: ignore[attr-defined]
        }
        def settrace(func: Any) -> None:
            if func is _thread_hook:
                func = None
            t = threading._active.get(_thread.get_ident())  # type: ignore[attr-defined]
            if getattr(t, "_devsandbox_internal", False):
                return _tracer.uninstall_tee()  # the recorder's own threads
            if func is None and getattr(t, "pydev_do_not_trace", False):
                return _tracer.uninstall_tee()  # a debugger's own thread: no tracing at all
            _tracer.settrace(func)

        def start_new_thread(function: Any, args: Any, kwargs: Any = None) -> int:
            def bootstrap(*a: Any, **k: Any) -> Any:
                _tracer.install_tee()
                return function(*a, **k)

            return self._saved["start_new_thread"](bootstrap, args, kwargs or {})

        self._settrace = settrace
        pydevd_tracing = sys.modules.get("pydevd_tracing")
        holder = getattr(pydevd_tracing, "TracingFunctionHolder", None)
        if holder is not None and getattr(holder, "_original_tracing", None) is not None:
            # pydevd came first: sys.settrace is its warning wrapper, which forwards to
            # whatever _original_tracing holds (set to ours by debugger.install)
            self._saved["settrace"] = None
        else:
            sys.settrace = settrace
        sys.gettrace = _tracer.gettrace
        if threading._trace_hook is None:  # type: ignore[attr-defined]
            threading.settrace(_thread_hook)
        _thread.start_new_thread = start_new_thread
        from . import debugger

        debugger.install(settrace)
        # every thread's current tracer (pydevd's, when it came first) goes behind a tee;
        # the recorder's own threads stay untraced
        own = tuple(t.ident for t in threading.enumerate()
                    if getattr(t, "_devsandbox_internal", False) and t.ident is not None)
        _tracer.install_tee_all(own)

    def stop(self) -> None:
        _tracer.stop()
        from . import debugger

        debugger.uninstall()
        if MODE == "monitoring":
            mon = sys.monitoring
            if self.tool_id >= 0 and mon.get_tool(self.tool_id) == TOOL_NAME:
                mon.set_events(self.tool_id, 0)
                for code in _tracer.codes():
                    mon.set_local_events(self.tool_id, code, 0)
                for e in _EVENTS_USED:
                    mon.register_callback(self.tool_id, e, None)
                mon.free_tool_id(self.tool_id)
            self.tool_id = -1
            return
        if self._saved:
            _tracer.remove_tee_all()
            # pydevd may have wrapped our sys.settrace: its wrapper stays (ours keeps working
            # after the recording, a pass-through tee)
            if self._saved["settrace"] is not None and sys.settrace is self._settrace:
                sys.settrace = self._saved["settrace"]
            if sys.gettrace is _tracer.gettrace:
                sys.gettrace = self._saved["gettrace"]
            _thread.start_new_thread = self._saved["start_new_thread"]
            if threading._trace_hook is _thread_hook:  # type: ignore[attr-defined]
                threading.settrace(self._saved["thread_hook"])  # type: ignore[arg-type]
            self._saved = {}

    def reset(self) -> None:
        _tracer.reset()
