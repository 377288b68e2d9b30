"""Recording under debugpy: keeping the recorder and pydevd out of each other's way.

3.11 (the tee owns every thread's trace slot): pydevd must put its tracer
*behind* the tee, never in place of it.
- ``sys.settrace`` is already the tee-aware version when pydevd is imported
  (the agent starts the recorder from ``sitecustomize``), so pydevd's
  ``_original_tracing`` is ours; when pydevd was there first (attach), its
  saved functions are switched to ours here.
- pydevd's native helper (``set_trace_to_threads``: writes the tracer straight
  into a thread state, replacing the tee) is replaced by one that goes
  through ``_tracer.settrace_thread``.
- pydevd's own threads call ``SetTrace(None)``: they leave tracing entirely.

3.12+: pydevd uses sys.monitoring under its own tool id; nothing to patch
for tracing.

Both: what the user changes while pydevd holds a thread (setVariable,
setExpression, an evaluate with side effects, goto) must not look like the
work of the next line.  ``PyDB.do_wait_suspend`` (the suspended thread waits
in it) and ``PyDB.set_next_statement`` (goto) are wrapped: when the thread
goes again, changed locals are recorded after a ``resume`` mark, and a goto
as a ``goto`` mark with the lines.

pydevd may be imported after the recorder starts (launch) or before (attach):
modules already loaded are patched at once, the others when they are
imported (a ``sys.meta_path`` hook that patches after the module runs).
"""

from __future__ import annotations

import json
import sys
import threading
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:  # importlib.abc costs the recorded program's start-up several ms
    from importlib.machinery import ModuleSpec

from .. import _tracer  # type: ignore[attr-defined]

_PATCHED_ATTR = "_devsandbox_patched"


def _resync(frame: FrameType | None, kind: str, info: dict[str, Any], force: bool = False) -> None:
    if frame is None:
        return
    try:
        _tracer.resync(frame, kind, json.dumps(info), force)
    except Exception:  # noqa: BLE001 - never break the debugger
        pass


# -- pydevd_tracing (3.11) ----------------------------------------------------------------------


def _set_trace_to_threads(tracing_func: Any, thread_idents: Any = None,
                          create_dummy_thread: bool = True) -> int:
    """pydevd_tracing.set_trace_to_threads through the tee: 0 when every thread took it."""
    if thread_idents is None:
        idents = set(sys._current_frames())
        for t in threading.enumerate():
            if getattr(t, "pydev_do_not_trace", False):
                idents.discard(t.ident)
            else:
                idents.add(t.ident)
    else:
        idents = set(thread_idents)
    ret = 0
    for ident in idents:
        if ident is None:
            continue
        if _tracer.settrace_thread(ident, tracing_func) != 0:
            ret = -1
    return ret


def patch_pydevd_tracing(module: ModuleType, settrace: Callable[[Any], None]) -> None:
    """Make pydevd set its tracers through the tee (3.11)."""
    if getattr(module, _PATCHED_ATTR, False):
        return
    holder = getattr(module, "TracingFunctionHolder", None)
    if holder is not None and getattr(holder, "_original_tracing", None) is not None:
        holder._original_tracing = settrace
    if hasattr(module, "_original_settrace"):
        module._original_settrace = settrace
    helper = getattr(module, "_load_python_helper_lib", None)
    if helper is not None:
        helper.__lib__ = None  # never load the native helper
    module.set_trace_to_threads = _set_trace_to_threads
    setattr(module, _PATCHED_ATTR, True)


# -- pydevd.PyDB (all versions) -----------------------------------------------------------------


def patch_pydb(module: ModuleType) -> None:
    """Record what the user changed while pydevd held a thread, as marks."""
    pydb = getattr(module, "PyDB", None)
    if pydb is None or getattr(pydb, _PATCHED_ATTR, False):
        return
    wait = pydb.do_wait_suspend
    jump = getattr(pydb, "set_next_statement", None)

    def do_wait_suspend(self: Any, thread: Any, frame: Any, event: Any, arg: Any,
                        *args: Any, **kwargs: Any) -> Any:
        try:
            return wait(self, thread, frame, event, arg, *args, **kwargs)
        finally:
            if frame is not None:
                _resync(frame, "resume", {"event": event, "line": frame.f_lineno})

    pydb.do_wait_suspend = do_wait_suspend
    if jump is not None:
        def set_next_statement(self: Any, frame: Any, event: Any, func_name: Any,
                               next_line: Any) -> Any:
            result = jump(self, frame, event, func_name, next_line)
            try:
                stop, old_line = result[0], result[1]
            except (TypeError, IndexError):
                return result
            if stop and frame is not None:
                _resync(frame, "goto", {"from": old_line, "to": frame.f_lineno}, force=True)
            return result

        pydb.set_next_statement = set_next_statement
    pydb._devsandbox_originals = (wait, jump)
    setattr(pydb, _PATCHED_ATTR, True)


def unpatch_pydb(module: ModuleType) -> None:
    pydb = getattr(module, "PyDB", None)
    originals = getattr(pydb, "_devsandbox_originals", None)
    if pydb is None or originals is None:
        return
    pydb.do_wait_suspend, jump = originals
    if jump is not None:
        pydb.set_next_statement = jump
    del pydb._devsandbox_originals
    setattr(pydb, _PATCHED_ATTR, False)


# -- patch now or when imported -----------------------------------------------------------------


class _PatchingLoader:  # an importlib Loader (duck-typed)
    def __init__(self, loader: Any, after: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._after = after

    def create_module(self, spec: ModuleSpec) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        try:
            self._after(module)
        except Exception:  # noqa: BLE001 - the debugger must still start
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _PostImportHook:  # an importlib MetaPathFinder (duck-typed)
    """Runs a patch right after one of the named modules is first imported."""

    def __init__(self, patches: dict[str, Callable[[ModuleType], None]]) -> None:
        self.patches = patches
        self._busy = threading.local()

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        after = self.patches.get(fullname)
        if after is None or getattr(self._busy, "on", False):
            return None
        self._busy.on = True
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy.on = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader, after)
        return spec


_hook: _PostImportHook | None = None


def install(tee_settrace: Callable[[Any], None] | None) -> None:
    """Patch pydevd's modules now, or when they are imported.

    ``tee_settrace``: the tee-aware ``sys.settrace`` (3.11), or None (3.12+).
    """
    global _hook
    patches: dict[str, Callable[[ModuleType], None]] = {"pydevd": patch_pydb}
    if tee_settrace is not None:
        patches["pydevd_tracing"] = lambda m: patch_pydevd_tracing(m, tee_settrace)
    waiting = {}
    for name, patch in patches.items():
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__spec__", None) is not None:
            patch(module)
        else:
            waiting[name] = patch
    if waiting:
        _hook = _PostImportHook(waiting)
        sys.meta_path.insert(0, _hook)


def uninstall() -> None:
    global _hook
    if _hook is not None:
        try:
            sys.meta_path.remove(_hook)
        except ValueError:
            pass
        _hook = None
    module = sys.modules.get("pydevd")
    if module is not None:
        unpatch_pydb(module)
