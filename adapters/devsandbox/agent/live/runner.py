"""Running injected code: worker threads with a timeout, captured output, the program's loops.

- ``run_in_thread(fn, …)`` runs ``fn()`` on a new thread hidden from the
  debugger (pydevd neither traces nor suspends it: it runs while the program is
  stopped at a breakpoint, and breakpoints in the code it calls do not stop
  it).  When the timeout passes, ``InjectedTimeout`` is raised inside the
  thread with ``PyThreadState_SetAsyncExc``; it arrives at the thread's next
  Python instruction, so code blocked inside a C call (a lock, a socket,
  ``time.sleep``) ends only once that call returns.  The answer says whether
  the code stopped.
- ``run_coroutine(factory, …)`` runs a coroutine in the program's asyncio loop
  (``run_coroutine_threadsafe``; cancelled at the timeout) or, when the program
  has no running loop or its loop's thread is stopped by the debugger, in a
  private loop on a worker thread.
- Output: while injected code runs, ``sys.stdout`` and ``sys.stderr`` are
  routers that send what the injected code (its thread or its task, told apart
  by a context variable) writes to the run, and everything else to the real
  streams.  They are put back when no run needs them.  Output written to the
  file descriptors directly (``os.write``, child processes) is not captured.
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import io
import itertools
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from ..rpc import spawn
from . import audit

GRACE = 1.0  # seconds the code gets to stop after the injected exception
MAX_OUTPUT = 64 * 1024


class InjectedTimeout(BaseException):
    """Raised inside injected code whose time is up (a BaseException: ``except Exception``
    in the program does not swallow it)."""


class WorkerStopped(BaseException):
    """Raised inside a worker thread that did not stop when asked."""


_ids = itertools.count(1)


def new_run_id(kind: str) -> str:
    return f"{kind}-{next(_ids)}"


class Run:
    """One execution of injected code."""

    def __init__(self, kind: str, client: str, capture: bool = True) -> None:
        self.run_id = new_run_id(kind)
        self.client = client
        self.capture = capture
        self.out = {"stdout": io.StringIO(), "stderr": io.StringIO()}
        self.truncated = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.ident: int | None = None
        self.started = time.perf_counter()
        self.finished: float | None = None
        self.timed_out = False
        self.location = ""  # "thread", "program loop", "private loop"
        self.note = ""

    def append(self, stream: str, text: str) -> int:
        buffer = self.out[stream]
        room = MAX_OUTPUT - buffer.tell()
        if room > 0:
            buffer.write(text[:room])
        if len(text) > room:
            self.truncated = True
        return len(text)

    def finish(self) -> None:
        self.finished = time.perf_counter()
        self.done.set()

    def outcome(self) -> dict[str, Any]:
        """The JSON answer: status, value or error, output, duration."""
        from ..values import safe_repr, size_of, type_name

        status = "timeout" if self.timed_out else "error" if self.error is not None else "ok"
        if not self.done.is_set():
            status = "timeout"
        answer: dict[str, Any] = {
            "status": status,
            "run": self.run_id,
            "stdout": self.out["stdout"].getvalue(),
            "stderr": self.out["stderr"].getvalue(),
            "duration": round((self.finished or time.perf_counter()) - self.started, 6),
        }
        if self.location:
            answer["where"] = self.location
        if self.truncated:
            answer["outputTruncated"] = True
        if self.note:
            answer["note"] = self.note
        if status == "timeout":
            answer["stopped"] = self.done.is_set()
            if not self.done.is_set():
                answer["note"] = ("the code is still running (blocked in a C call); it stops at "
                                  "its next Python instruction")
        elif self.error is not None:
            err = self.error
            answer["error"] = {"type": type_name(type(err)), "message": _message(err),
                               "traceback": _traceback(err)}
        else:
            answer["value"] = safe_repr(self.result)
            answer["type"] = type_name(type(self.result))
            size = size_of(self.result)
            if size is not None:
                answer["size"] = size
        return answer


def _message(err: BaseException) -> str:
    try:
        return str(err)
    except Exception:  # noqa: BLE001  (the program's own __str__)
        return "<str() of the exception failed>"


def _traceback(err: BaseException) -> list[str]:
    frames = traceback.extract_tb(err.__traceback__)
    # drop the agent's own frames: the user wants to see their code
    own = __file__.rsplit("/", 1)[0]
    return [f"{f.filename}:{f.lineno} in {f.name}" for f in frames
            if not f.filename.startswith(own)][-20:]


# -- output routing ------------------------------------------------------------------------------

_capture: contextvars.ContextVar[Run | None] = contextvars.ContextVar("devsandbox_capture",
                                                                      default=None)
_router_lock = threading.Lock()
_router_users = 0


class _Router:
    """Stands in for sys.stdout / sys.stderr while injected code runs."""

    def __init__(self, original: Any, stream: str) -> None:
        self._original = original
        self._stream = stream

    def write(self, text: str) -> int:
        run = _capture.get()
        if run is not None and run.capture:
            return run.append(self._stream, str(text))
        return self._original.write(text)  # type: ignore[no-any-return]

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _capture.get() is None:
            self._original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def _route_output() -> None:
    global _router_users
    with _router_lock:
        _router_users += 1
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            if not isinstance(current, _Router) and current is not None:
                setattr(sys, name, _Router(current, name))


def _unroute_output() -> None:
    global _router_users
    with _router_lock:
        _router_users -= 1
        if _router_users > 0:
            return
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            if isinstance(current, _Router):  # the program did not replace it meanwhile
                setattr(sys, name, current._original)


def _body(run: Run, fn: Callable[[], Any]) -> None:
    run.ident = threading.get_ident()
    _capture.set(run)
    try:
        with audit.running(run.run_id, run.client):
            run.result = fn()
    except InjectedTimeout as exc:
        run.timed_out = True
        run.error = exc
    except BaseException as exc:  # noqa: BLE001  (the user's code: report whatever it raised)
        run.error = exc
    finally:
        run.finish()


# -- threads -------------------------------------------------------------------------------------


def async_raise(ident: int, exc_type: type[BaseException]) -> bool:
    """Raise ``exc_type`` in thread ``ident`` at its next Python instruction."""
    set_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    set_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
    set_exc.restype = ctypes.c_int
    count = int(set_exc(ident, exc_type))
    if count > 1:  # cannot happen with a valid ident; undo to be safe
        set_exc(ident, ctypes.py_object())
    return count == 1


def start_thread(run: Run, fn: Callable[[], Any], name: str) -> threading.Thread:
    """Start ``fn`` on a hidden thread as ``run`` (output routed while it runs)."""
    _route_output()

    def target() -> None:
        try:
            _body(run, fn)
        finally:
            _unroute_output()

    return spawn(name, target)


def wait(run: Run, timeout: float) -> None:
    """Wait for the run; past the timeout, stop it with InjectedTimeout (then wait GRACE)."""
    if run.done.wait(timeout):
        return
    run.timed_out = True
    if run.ident is not None:
        async_raise(run.ident, InjectedTimeout)
    run.done.wait(GRACE)


def run_in_thread(fn: Callable[[], Any], *, kind: str, client: str, timeout: float,
                  capture: bool = True) -> Run:
    run = Run(kind, client, capture)
    run.location = "thread"
    start_thread(run, fn, f"devsandbox {run.run_id}")
    wait(run, timeout)
    return run


# -- asyncio -------------------------------------------------------------------------------------


def program_loops() -> list[Any]:
    """The asyncio loops running in the program (found in the threads' stacks)."""
    from ..discovery import _loops_from_frames

    return _loops_from_frames()


def _held(frame: Any) -> bool:
    depth = 0
    while frame is not None and depth < 16:
        code = frame.f_code
        if code.co_name == "do_wait_suspend" and "pydevd" in code.co_filename:
            return True
        frame, depth = frame.f_back, depth + 1
    return False


def loop_suspended(loop: Any) -> bool:
    """Is the loop's thread held by the debugger (stopped at a breakpoint, paused)?"""
    ident = getattr(loop, "_thread_id", None)
    return isinstance(ident, int) and _held(sys._current_frames().get(ident))


def program_paused() -> bool:
    """Is some thread of the program held by the debugger?  (debugpy then holds every thread
    that runs Python code: a loop waiting in select() would stop as soon as it woke up.)"""
    return any(_held(frame) for frame in sys._current_frames().values())


def run_coroutine(factory: Callable[[], Awaitable[Any]], *, kind: str, client: str,
                  timeout: float, loop: Any = None, private: bool = False) -> Run:
    """Run the awaitable ``factory()`` returns, in ``loop`` (default: the program's only running
    loop) or in a private loop when asked, when there is none, or when its thread is paused."""
    run = Run(kind, client)
    if loop is None and not private:
        loops = program_loops()
        loop = loops[0] if len(loops) == 1 else None
    if loop is not None and not private and not program_paused():
        return _in_program_loop(run, factory, loop, timeout)
    run.note = ("the program is paused by the debugger: the coroutine ran in a private loop"
                if loop is not None and not private else "")
    return _in_private_loop(run, factory, timeout)


async def _wrapped(run: Run, factory: Callable[[], Awaitable[Any]]) -> Any:
    _capture.set(run)  # the task's own context
    with audit.running(run.run_id, run.client):
        return await factory()


def _in_program_loop(run: Run, factory: Callable[[], Awaitable[Any]], loop: Any,
                     timeout: float) -> Run:
    run.location = "program loop"
    _route_output()
    try:
        future = asyncio.run_coroutine_threadsafe(_wrapped(run, factory), loop)
        try:
            run.result = future.result(timeout)
        except BaseException as exc:  # noqa: BLE001  (the user's code: report whatever it raised)
            if future.done():
                run.error = exc
                run.finish()
                return run
            run.timed_out = True
            future.cancel()
            try:
                future.result(GRACE)
            except BaseException as exc:  # noqa: BLE001  (cancelled, or failed while stopping)
                run.note = f"stopped with {type(exc).__name__}"
            if future.done():
                run.done.set()
            run.finished = time.perf_counter()
            return run
        run.finish()
        return run
    finally:
        _unroute_output()


def _in_private_loop(run: Run, factory: Callable[[], Awaitable[Any]], timeout: float) -> Run:
    run.location = "private loop"
    state: dict[str, Any] = {}

    def body() -> Any:
        loop = asyncio.new_event_loop()
        try:
            task = loop.create_task(_wrapped(run, factory))
            state["loop"], state["task"] = loop, task
            return loop.run_until_complete(task)
        finally:
            loop.close()

    start_thread(run, body, f"devsandbox {run.run_id} (private loop)")
    if not run.done.wait(timeout):
        run.timed_out = True
        loop, task = state.get("loop"), state.get("task")
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the private loop closed meanwhile: nothing left to cancel
                run.note = "the private loop had already ended"
        run.done.wait(GRACE)
    return run
