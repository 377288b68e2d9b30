"""``discover``: what the program is doing right now, without pausing it.

Runs on an agent thread while the program keeps running.  It only reads
interpreter state: frames from ``sys._current_frames()``, asyncio tasks from
asyncio's own registries, ``/proc`` for child processes, module globals and the
garbage collector's object list (within a time budget).  It never calls the
program's code: no ``repr()``, no ``len()`` on unknown types, no properties of
user classes.

Every section is computed independently; a failing section is reported under
``errors`` and the others are still returned.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import types
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from . import modules as _modules
from .rpc import own_thread_idents

MAX_STACK = 64
MAX_CHAIN = 32
MAX_CHILDREN = 256
_COROUTINE_TYPES = (types.CoroutineType, types.GeneratorType, types.AsyncGeneratorType)


def discover(params: dict[str, Any]) -> dict[str, Any]:
    """The discovery report (JSON-serialisable).  Params: ``top`` (default 20),
    ``types`` (default 20), ``gc_budget`` seconds for counting objects (default 0.5)."""
    top = _int(params.get("top"), 20)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "argv": list(sys.argv),
        "cwd": _cwd(),
        "time": time.time(),
        "errors": {},
    }
    program_dirs = _modules.program_dirs()
    report["program_dirs"] = program_dirs
    sections: list[tuple[str, Callable[[], Any]]] = [
        ("threads", threads),
        ("asyncio", asyncio_report),
        ("children", children),
        ("modules", lambda: _modules.modules_report(program_dirs)),
        ("containers", lambda: _modules.containers(program_dirs, top)),
        (
            "memory",
            lambda: memory(_int(params.get("types"), 20), _float(params.get("gc_budget"), 0.5)),
        ),
    ]
    for name, compute in sections:
        try:
            report[name] = compute()
        except Exception as exc:  # one broken section must not hide the others
            report[name] = None
            report["errors"][name] = f"{type(exc).__name__}: {exc}"
    report["elapsed"] = round(time.perf_counter() - started, 4)
    return report


# -- threads ------------------------------------------------------------------------------------


def frame_info(frame: types.FrameType) -> dict[str, Any]:
    code = frame.f_code
    return {
        "file": code.co_filename,
        "line": frame.f_lineno,
        "function": getattr(code, "co_qualname", code.co_name),
    }


def stack_of(frame: types.FrameType | None) -> list[dict[str, Any]]:
    """Innermost frame first."""
    stack: list[dict[str, Any]] = []
    while frame is not None and len(stack) < MAX_STACK:
        stack.append(frame_info(frame))
        frame = frame.f_back
    return stack


def threads() -> list[dict[str, Any]]:
    frames = sys._current_frames()
    hidden = own_thread_idents()
    # pydevd hides its own threads from threading.enumerate(); _active has them all
    active = getattr(threading, "_active", None)
    known = dict(active) if isinstance(active, dict) else {
        t.ident: t for t in threading.enumerate()}
    result = []
    for ident, frame in frames.items():
        if ident in hidden:
            continue
        thread = known.get(ident)
        stack = stack_of(frame)
        waiting = debugger_wait_depth(stack)
        entry: dict[str, Any] = {
            "ident": ident,
            "name": _thread_attr(thread, "_name", f"<thread {ident}>"),
            "daemon": bool(_thread_attr(thread, "_daemonic", True)),
            "native_id": _thread_attr(thread, "_native_id", None),
            "main": thread is threading.main_thread(),
            "debugger": bool(
                thread is not None and getattr(thread, "is_pydev_daemon_thread", False)
            ),
            "suspended": waiting > 0,  # stopped by the debugger (breakpoint, step, pause)
            "stack": stack[waiting:],
        }
        result.append(entry)
    del frames
    result.sort(key=lambda t: (not t["main"], t["debugger"], str(t["name"])))
    return result


def _is_debugger_file(path: str) -> bool:
    parts = path.replace("\\", "/").split("/")
    return "debugpy" in parts or any(p.startswith(("pydevd", "_pydevd", "_pydev")) for p in parts)


def debugger_wait_depth(stack: list[dict[str, Any]]) -> int:
    """How many innermost frames are the debugger holding a suspended thread (0: not suspended).

    A thread stopped at a breakpoint sits in pydevd's ``do_wait_suspend`` (and
    the threading wait under it); the user wants to see where it stopped.
    """
    for index, frame in enumerate(stack[:12]):
        if str(frame["function"]).endswith("do_wait_suspend") and _is_debugger_file(
            str(frame["file"])
        ):
            end = index
            while end + 1 < len(stack) and _is_debugger_file(str(stack[end + 1]["file"])):
                end += 1
            return end + 1
    return 0


def _thread_attr(thread: threading.Thread | None, name: str, default: Any) -> Any:
    if thread is None:
        return default
    value = thread.__dict__.get(name, default)  # plain attributes, not a subclass's properties
    return value if isinstance(value, (str, int, bool, type(None))) else default


# -- asyncio ------------------------------------------------------------------------------------


def asyncio_report() -> dict[str, Any]:
    aio = sys.modules.get("asyncio")
    if aio is None:
        return {"loops": []}
    loops: dict[int, Any] = {}
    loop_threads: dict[int, int] = {}
    for ident, frame in sys._current_frames().items():  # loops that are running right now
        for loop in _running_loops_in(frame):
            loops[id(loop)] = loop
            loop_threads[id(loop)] = ident
    tasks = _all_tasks(aio)
    by_loop: dict[int, list[Any]] = {}
    for task in tasks:
        loop = _task_loop(aio, task)
        if loop is None:
            continue
        loops.setdefault(id(loop), loop)
        by_loop.setdefault(id(loop), []).append(task)
    report = []
    for key, loop in loops.items():
        entries = [task_info(aio, t) for t in by_loop.get(key, [])]
        entries = [e for e in entries if not e["done"]]
        entries.sort(key=lambda e: str(e["name"]))
        attrs = getattr(loop, "__dict__", {})
        thread = loop_threads.get(key) or attrs.get("_thread_id")
        report.append(
            {
                "id": key,
                "type": f"{type(loop).__module__}.{type(loop).__qualname__}",
                "thread": thread,
                "running": key in loop_threads,
                "closed": bool(attrs.get("_closed", False)),
                "tasks": entries,
            }
        )
    return {"loops": report}


def _running_loops_in(frame: types.FrameType | None) -> Iterable[Any]:
    while frame is not None:
        code = frame.f_code
        if code.co_name == "run_forever" and code.co_filename.endswith("base_events.py"):
            loop = frame.f_locals.get("self")
            if loop is not None:
                yield loop
        frame = frame.f_back


def _all_tasks(aio: types.ModuleType) -> list[Any]:
    tasks_mod = getattr(aio, "tasks", None)
    found: list[Any] = []
    for name in ("_all_tasks", "_scheduled_tasks", "_eager_tasks"):
        registry = getattr(tasks_mod, name, None)
        if registry is None:
            continue
        for _attempt in range(20):  # the program may add or drop tasks while we copy
            try:
                found.extend(list(registry))
                break
            except RuntimeError:
                continue
    if not found and tasks_mod is not None:
        # 3.14 keeps tasks in per-thread lists: ask asyncio per loop we know about
        for loop in _loops_from_frames():
            try:
                found.extend(aio.all_tasks(loop))
            except Exception:
                pass
    unique = {id(t): t for t in found}
    return list(unique.values())


def _loops_from_frames() -> list[Any]:
    loops = {}
    for frame in sys._current_frames().values():
        for loop in _running_loops_in(frame):
            loops[id(loop)] = loop
    return list(loops.values())


def _task_loop(aio: types.ModuleType, task: Any) -> Any:
    if _is(task, aio.Future):
        return aio.Future.get_loop(task)
    return getattr(task, "_loop", None)


def task_info(aio: types.ModuleType, task: Any) -> dict[str, Any]:
    is_future = _is(task, aio.Future)
    done = bool(aio.Future.done(task)) if is_future else False
    if _is(task, aio.Task):
        name = aio.Task.get_name(task)
        coro = aio.Task.get_coro(task)
    else:
        name = getattr(task, "_name", None)
        coro = getattr(task, "_coro", None)
    entry: dict[str, Any] = {
        "id": id(task),
        "name": name if isinstance(name, str) else None,
        "done": done,
        "coroutine": _qualname(coro),
        "location": None,
        "awaiting": [],
    }
    frame = _coro_frame(coro)
    if frame is not None:
        entry["location"] = frame_info(frame)
    entry["awaiting"] = awaiting_chain(aio, coro, task)
    return entry


def awaiting_chain(aio: types.ModuleType, coro: Any, task: Any) -> list[dict[str, Any]]:
    """What the task waits for: the coroutines it is suspended in (cr_await), then the future."""
    chain: list[dict[str, Any]] = []
    current = _coro_await(coro)
    while current is not None and len(chain) < MAX_CHAIN:
        if type(current) in _COROUTINE_TYPES:
            item: dict[str, Any] = {"kind": "coroutine", "qualname": _qualname(current)}
            frame = _coro_frame(current)
            if frame is not None:
                item["location"] = frame_info(frame)
            chain.append(item)
            current = _coro_await(current)
        else:
            break  # a future's iterator or a custom awaitable: the task's waiter tells more
    waiter = getattr(task, "_fut_waiter", None)  # both Task implementations keep it
    if waiter is not None:
        chain.append(future_info(aio, waiter))
    return chain


def future_info(aio: types.ModuleType, fut: Any) -> dict[str, Any]:
    kind = "task" if _is(fut, aio.Task) else "future"
    item: dict[str, Any] = {
        "kind": kind,
        "type": f"{type(fut).__module__}.{type(fut).__qualname__}",
    }
    if _is(fut, aio.Future):
        item["done"] = bool(aio.Future.done(fut))
    if _is(fut, aio.Task):
        item["name"] = aio.Task.get_name(fut)
        item["coroutine"] = _qualname(aio.Task.get_coro(fut))
    gathering = getattr(getattr(aio, "tasks", None), "_GatheringFuture", None)
    children = fut._children if gathering is not None and type(fut) is gathering else None
    if type(children) is list:
        item["children"] = [
            aio.Task.get_name(c) if _is(c, aio.Task) else f"<{type(c).__qualname__}>"
            for c in children[:MAX_CHAIN]
        ]
    return item


def _coro_await(coro: Any) -> Any:
    if type(coro) is types.CoroutineType:
        return coro.cr_await
    if type(coro) is types.GeneratorType:
        return coro.gi_yieldfrom
    if type(coro) is types.AsyncGeneratorType:
        return coro.ag_await
    return None


def _coro_frame(coro: Any) -> types.FrameType | None:
    frame = None
    if type(coro) is types.CoroutineType:
        frame = coro.cr_frame
    elif type(coro) is types.GeneratorType:
        frame = coro.gi_frame
    elif type(coro) is types.AsyncGeneratorType:
        frame = coro.ag_frame
    return frame if isinstance(frame, types.FrameType) else None


def _qualname(obj: Any) -> str | None:
    if obj is None:
        return None
    if type(obj) in _COROUTINE_TYPES:
        return str(obj.__qualname__)
    return f"<{type(obj).__module__}.{type(obj).__qualname__}>"


# -- child processes ----------------------------------------------------------------------------


def children(pid: int | None = None) -> dict[str, Any]:
    """Descendants of this process from /proc (Linux); elsewhere ``supported`` is False."""
    root = os.getpid() if pid is None else pid
    if not os.path.isdir("/proc/self"):
        return {"supported": False, "processes": []}
    parents = _proc_parents()
    kids: dict[int, list[int]] = {}
    for child, parent in parents.items():
        kids.setdefault(parent, []).append(child)
    result: list[dict[str, Any]] = []
    queue = [(root, 0)]
    while queue and len(result) < MAX_CHILDREN:
        parent, depth = queue.pop(0)
        for child in sorted(kids.get(parent, [])):
            cmdline = _read_cmdline(child)
            if cmdline is None:
                continue  # gone meanwhile
            result.append(
                {
                    "pid": child,
                    "parent": parent,
                    "depth": depth + 1,
                    "cmdline": cmdline,
                    "has_agent": _has_agent(child),
                }
            )
            queue.append((child, depth + 1))
    return {"supported": True, "processes": result}


def _proc_parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()  # the command name may hold spaces and ')'
        if len(fields) > 1 and fields[1].isdigit():
            parents[int(name)] = int(fields[1])
    return parents


def _read_cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in data.split(b"\0") if part]


def _has_agent(pid: int) -> bool | None:
    """Whether the process was started with the agent's environment (None: cannot tell)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return any(var.startswith(b"DEVSANDBOX_AGENT=") for var in data.split(b"\0"))


# -- memory -------------------------------------------------------------------------------------


def memory(top_types: int = 20, budget: float = 0.5) -> dict[str, Any]:
    report: dict[str, Any] = {
        "rss_bytes": rss_bytes(),
        "peak_rss_bytes": peak_rss_bytes(),
        "gc_counts": list(gc.get_count()),
        "gc_thresholds": list(gc.get_threshold()),
        "gc_enabled": gc.isenabled(),
    }
    if top_types == 0:  # the caller does not want the object census (it copies gc's list)
        report.update(gc_tracked_objects=None, objects_counted=0, complete=False, types=[])
        return report
    deadline = time.perf_counter() + max(budget, 0.01)
    objects = gc.get_objects()
    total = len(objects)
    counts: Counter[type] = Counter()
    done = 0
    chunk = 20000
    while done < total:
        counts.update(map(type, objects[done : done + chunk]))
        done = min(total, done + chunk)
        if time.perf_counter() > deadline:
            break
    del objects
    report["gc_tracked_objects"] = total
    report["objects_counted"] = done
    report["complete"] = done == total
    report["types"] = [
        {"type": _type_name(t), "count": n} for t, n in counts.most_common(max(top_types, 0))
    ]
    return report


def rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as f:
            resident = int(f.read().split()[1])
        return resident * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int | None:
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _type_name(t: type) -> str:
    module = type.__dict__["__module__"].__get__(t)  # the descriptors of `type`, not a metaclass's
    qualname = type.__dict__["__qualname__"].__get__(t)
    return (
        qualname if module == "builtins" or not isinstance(module, str) else f"{module}.{qualname}"
    )


# -- helpers ------------------------------------------------------------------------------------


def _is(obj: Any, cls: type) -> bool:
    """isinstance() without asking the object for its ``__class__`` (a proxy could run code)."""
    return issubclass(type(obj), cls)


def _int(value: Any, default: int) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    )


def _float(value: Any, default: float) -> float:
    return (
        float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        else default
    )


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:
        return ""
