"""The time-travel recorder, in the debuggee: control API.

    rec = devsandbox.recorder.start({"out": "run.dsrec"})   # or the agent, from DEVSANDBOX_OPTIONS
    ...
    devsandbox.recorder.stop()

    with devsandbox.recording():       # a recording window from code
        work()

Options (all optional): ``out`` (file; default ``.devsandbox/recordings/…``),
``include`` / ``exclude`` (path globs), ``functions`` (qualname globs),
``max_depth``, ``max_items``, ``max_str``, ``max_repr`` (value limits),
``repr_budget_ms`` (one repr() call: interrupted past it, default 20),
``follow_budget_us`` (default 0.5: what comparing an instance of a class with
its own ``__repr__`` may cost on average, at every step it is in; past it the
class is shown as "repr skipped: too costly to follow"; 0: no limit),
``item_diffs`` (default true: a container that changed is written again as the
items that changed; false: whole; format 1.1), ``globals`` (the module globals each
function reads or writes, data only, recorded beside its locals as ``global:NAME``;
by default only those it rebinds, ``global X; X = ...``; false: none),
``timings`` (default true: the monotonic time of every call and return,
in microseconds, so that each call has a duration; format 1.2),
``attributes`` (default false: a local holding an object whose repr is
object's own, "<mod.T object at 0x…>", is recorded with its attributes, so
that ``self.count`` has a value and a history in the past; format 1.3; costly
on object-heavy code, see README), ``chunk_kb`` (events per written chunk, uncompressed, 4 to 1024, default 128:
the most a crash can lose besides the last 100 ms, and what a reader holds
while it works on a chunk), ``flight_recorder_mb`` (keep only the last N MB in memory;
written by dump() and on an uncaught exception), ``backend`` ("auto",
"native" or "python").

The native recorder (the C extension) is used wherever it loads; the
pure-Python recorder is a fallback, with a warning, because it is ~50x slower.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import warnings
from typing import Any, Iterator

from .format import CHUNK_KB_MAX, CHUNK_KB_MIN
from .scope import Scope
from .writer import Writer

__all__ = ["Recorder", "start", "stop", "current", "recording"]

DEFAULT_DIR = os.path.join(".devsandbox", "recordings")
SUFFIX = ".dsrec"

# set for child processes: the recording id (and file) of the nearest recorded ancestor
ENV_PARENT_RECORDING = "DEVSANDBOX_PARENT_RECORDING"
ENV_PARENT_RECORDING_FILE = "DEVSANDBOX_PARENT_RECORDING_FILE"

_LIMIT_KEYS = ("max_depth", "max_items", "max_str", "max_repr")
# events are written in chunks of at most this much (before compression): a crash loses at
# most one chunk (or 100 ms), and a reader holds a chunk or two in memory while it works
DEFAULT_CHUNK_KB = 128

_current: Recorder | None = None
_lock = threading.Lock()


def _default_path(program: str | None) -> str:
    stem = os.path.splitext(os.path.basename(program or "python"))[0] or "python"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return os.path.join(DEFAULT_DIR, f"{stem}-{stamp}-{os.getpid()}{SUFFIX}")


def _make_backend(kind: str, scope: Scope, limits: dict[str, int]) -> Any:
    if kind in ("auto", "native"):
        try:
            from .native import NativeBackend

            return NativeBackend(scope, limits)
        except ImportError as exc:
            if kind == "native":
                raise
            warnings.warn(
                f"devsandbox: the native recorder is not available ({exc}); using the "
                "pure-Python recorder, which is much slower",
                RuntimeWarning,
                stacklevel=3,
            )
    from .pyrecorder import PythonBackend

    return PythonBackend(scope, limits)


class Recorder:
    """One recording: the hooks, the writer and the file."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        opts = dict(options or {})
        self.options = opts
        program = opts.get("program") or (sys.argv[0] if sys.argv and sys.argv[0] else None)
        self.flight_bytes = int(float(opts.get("flight_recorder_mb") or 0) * (1 << 20))
        self.path: str | None = None if self.flight_bytes else os.path.abspath(
            opts.get("out") or _default_path(program))
        self.scope = Scope(opts.get("include") or (), opts.get("exclude") or (),
                           opts.get("functions") or ())
        limits: dict[str, int] = {k: int(opts[k]) for k in _LIMIT_KEYS if opts.get(k) is not None}
        if opts.get("repr_budget_ms") is not None:
            limits["repr_budget_ns"] = int(float(opts["repr_budget_ms"]) * 1e6)
        if opts.get("follow_budget_us") is not None:
            limits["type_budget_ns"] = int(float(opts["follow_budget_us"]) * 1e3)
        # objects shown as "<mod.T object at 0x…>" recorded with their attributes (format 1.3)
        limits["attributes"] = 1 if opts.get("attributes") else 0
        # a repr that only formats attributes recorded as their values (format 1.5, native)
        limits["templates"] = 0 if opts.get("repr_templates") is False else 1
        chunk_kb = DEFAULT_CHUNK_KB if opts.get("chunk_kb") is None else int(opts["chunk_kb"])
        if not CHUNK_KB_MIN <= chunk_kb <= CHUNK_KB_MAX:
            raise ValueError(f"recorder option chunk_kb must be between {CHUNK_KB_MIN} and "
                             f"{CHUNK_KB_MAX}, got {chunk_kb}")
        limits["flush_bytes"] = chunk_kb * 1024
        self.backend = _make_backend(str(opts.get("backend") or "auto"), self.scope, limits)
        # item-level container changes (format 1.1, by default); the pure-Python recorder
        # writes whole values
        self.item_diffs = opts.get("item_diffs") is not False and self.backend.name == "native"
        if self.item_diffs:
            self.backend.item_diffs = True
        # module globals a function reads or writes ("all"), by default those it rebinds
        # ("written"), shown beside its locals as "global:NAME"
        option = opts.get("globals")
        self.capture_globals: str | None = None
        if self.backend.name == "native":
            self.capture_globals = "all" if option else "written" if option is None else None
            self.backend.capture_globals = self.capture_globals or False
        # call and return times (format 1.2): microseconds since this monotonic origin
        self.clock_origin_ns = time.monotonic_ns() if opts.get("timings", True) else 0
        self.backend.clock_origin_ns = self.clock_origin_ns
        self.started = time.time()
        self._t0 = time.perf_counter()
        self.id = os.urandom(16).hex()  # (uuid4's randomness, without importing uuid)
        self.meta = {
            "id": self.id,
            "program": program,
            "argv": list(opts.get("argv") or sys.argv),
            "python": sys.version,
            "python_version": list(sys.version_info[:3]),
            "implementation": sys.implementation.name,
            "executable": sys.executable,
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "parent_recording": os.environ.get(ENV_PARENT_RECORDING),
            "parent_recording_file": os.environ.get(ENV_PARENT_RECORDING_FILE),
            "cwd": os.getcwd(),
            "start_time": self.started,
            "scope": self.scope.describe(),
            "backend": self.backend.name,
            "mode": getattr(self.backend, "mode", None) or _native_mode(self.backend),
            "limits": limits,
            "item_diffs": self.item_diffs,
            "attributes": bool(limits["attributes"]),
            "repr_templates": bool(limits["templates"]) and self.backend.name == "native",
            "globals": self.capture_globals,
            "clock": {"origin_ns": self.clock_origin_ns, "unit": "us"}
            if self.clock_origin_ns else None,
        }
        self.writer = Writer(self.path, self.meta, self.backend.take, self.flight_bytes,
                             getattr(self.backend, "untrace_current_thread", None))
        self.stopped = False
        self._saved_excepthook: Any = None
        self._saved_env: dict[str, str | None] = {}

    def start(self) -> Recorder:
        self.backend.start(self.writer.request_flush)
        if self.options.get("children", True):
            for key, value in ((ENV_PARENT_RECORDING, self.id),
                               (ENV_PARENT_RECORDING_FILE, self.path or "")):
                self._saved_env[key] = os.environ.get(key)
                os.environ[key] = value
        if self.flight_bytes:
            self._saved_excepthook = sys.excepthook

            def excepthook(etype: Any, value: Any, tb: Any) -> None:
                self.dump(reason="uncaught exception")
                self._saved_excepthook(etype, value, tb)

            sys.excepthook = excepthook
        return self

    def mark(self, kind: str, payload: str = "", thread: int | None = None) -> bool:
        """Record an explicit event (setVariable, goto, a note) in this thread, or in
        thread ``thread`` (an ident: written just before that thread's next event)."""
        return bool(self.backend.mark(kind, payload, thread))

    def threads(self) -> list[dict[str, Any]]:
        """The recorded threads: tid (the recording's id), ident, native_id, name, steps."""
        out = []
        for tid, ident, native_id, steps, depth in self.backend.threads():
            t = threading._active.get(ident)  # type: ignore[attr-defined]
            out.append({"tid": tid, "ident": ident, "native_id": native_id,
                        "name": t.name if t is not None else None, "steps": steps,
                        "alive": t is not None and t.is_alive()})
        return out

    def flush(self) -> dict[str, Any]:
        """Write everything recorded so far; the file and each thread's last step in it."""
        complete = self.writer.flush()
        last = dict(self.writer.last_steps)
        threads = [dict(t, last_step=last.get(t["tid"])) for t in self.threads()]
        return {"path": self.path, "complete": complete, "threads": threads,
                "events": self.stats().get("events", 0)}

    def status(self) -> dict[str, Any]:
        s = self.stats()
        return {"running": not self.stopped, "path": self.path, "id": self.id,
                "events": s.get("events", 0), "threads": self.threads(),
                "backend": self.backend.name, "mode": self.meta.get("mode"),
                "flight_recorder": bool(self.flight_bytes), "raw_bytes": s.get("raw_bytes", 0),
                "wall_seconds": s.get("wall_seconds", 0.0)}

    def stats(self) -> dict[str, Any]:
        s = self.backend.stats()
        s["wall_seconds"] = time.perf_counter() - self._t0
        s["raw_bytes"] = self.writer.bytes_raw
        return s

    def dump(self, path: str | None = None, reason: str = "dump") -> str:
        """Flight-recorder mode: write the last N MB now; returns the file."""
        path = os.path.abspath(path or _default_path(self.meta["program"]))
        return self.writer.dump(path, {"reason": reason, "time": time.time(), **self.stats()})

    def stop(self, reason: str = "stopped", exit_code: int | None = None) -> None:
        global _current
        if self.stopped:
            return
        self.stopped = True
        self.backend.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._saved_excepthook is not None:
            sys.excepthook = self._saved_excepthook
        end = {"reason": reason, "exit_code": exit_code, "time": time.time(), **self.stats()}
        self.writer.close(end)
        self.backend.reset()
        with _lock:
            if _current is self:
                _current = None


_orphans: list[Any] = []  # files inherited through fork: never closed (a close would flush)


def _after_fork_in_child() -> None:
    """A forked child (multiprocessing, os.fork) inherits the parent's recorder: drop it
    without touching the parent's file and, unless the user opted out, record the child
    into a file of its own, linked to the parent's recording."""
    global _current, _lock
    _lock = threading.Lock()
    rec = _current
    if rec is None or rec.stopped:
        return
    _current = None
    rec.stopped = True
    writer = rec.writer
    writer._closed = True
    f, writer.file = writer.file, None
    if f is not None:
        _orphans.append(f)
        try:
            os.close(f.fileno())
        except OSError:
            pass
    try:
        rec.backend.stop()
        rec.backend.reset()
    except Exception:  # noqa: BLE001 - the child must run on
        pass
    if not rec.options.get("children", True):
        return
    opts = dict(rec.options)
    out = opts.pop("out", None)
    if out and rec.path:
        stem, ext = os.path.splitext(rec.path)
        opts["out"] = f"{stem}-{os.getpid()}{ext or SUFFIX}"
    os.environ[ENV_PARENT_RECORDING] = rec.id
    os.environ[ENV_PARENT_RECORDING_FILE] = rec.path or ""
    try:
        child = start(opts)
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"devsandbox: warning: the forked child {os.getpid()} is not recorded: "
                         f"{type(exc).__name__}: {exc}\n")
        return
    # multiprocessing's children end with os._exit: finish the file in its exit hook
    # (its Process._bootstrap clears finalizers registered before it, then runs the
    # after-fork callbacks)
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        def finish_at_exit(rec: Recorder) -> None:
            util.Finalize(None, rec.stop, args=("exit",), exitpriority=100)

        util.register_after_fork(child, finish_at_exit)
    import atexit

    atexit.register(child.stop, "exit")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _native_mode(backend: Any) -> str | None:
    try:
        from .native import MODE

        return MODE if backend.name == "native" else "settrace"
    except ImportError:
        return "settrace"


def start(options: dict[str, Any] | None = None) -> Recorder:
    """Start recording this process (one recording at a time)."""
    global _current
    with _lock:
        if _current is not None:
            raise RuntimeError(f"already recording to {_current.path}")
        rec = _current = Recorder(options)
    try:
        return rec.start()
    except BaseException:
        with _lock:
            _current = None
        raise


def stop(reason: str = "stopped", exit_code: int | None = None) -> None:
    """Stop the current recording, if any, and finish its file."""
    rec = _current
    if rec is not None:
        rec.stop(reason, exit_code)


def current() -> Recorder | None:
    return _current


@contextlib.contextmanager
def recording(**options: Any) -> Iterator[Recorder]:
    """Record the code run inside the ``with`` block."""
    rec = start(options)
    try:
        yield rec
    finally:
        rec.stop("window closed")
