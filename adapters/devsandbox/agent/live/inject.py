"""Injection: call a function, put a message on a queue, start and stop workers.

- ``call``: the callable at ``target`` (a path) with ``args``/``kwargs`` (JSON)
  or ``arguments`` (Python source of the call's arguments, checked like any
  code); plain functions run on a worker thread, coroutine functions in the
  program's asyncio loop (see ``runner``); timeout and captured output.  A
  callable that is itself dangerous (``os.system``, ``subprocess.run``, ``eval``
  …, whatever name it is reached by) counts as a finding of the safety check.
- ``sendMessage``: ``queue.Queue``-like objects (anything with ``put``) get
  ``put(value, timeout=…)`` on a worker thread; an ``asyncio.Queue`` gets
  ``put_nowait`` inside its loop; a deque or list gets an append.  ``delay``
  seconds postpone the delivery.
- ``startWorker`` / ``stopWorker`` / ``workers``: a callable run as a thread or
  an asyncio task.  A thread whose callable takes a ``stop`` parameter gets a
  ``threading.Event`` set when it should stop; a thread that does not stop in
  time gets ``WorkerStopped`` raised inside it; a task is cancelled.
"""

from __future__ import annotations

import asyncio
import collections
import inspect as pyinspect
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..rpc import RpcError, spawn
from ..values import safe_repr, type_name
from . import atomic, audit, evaluate, runner, scanner
from .clients import ERR_INVALID, Client, get, need_str, number
from .paths import resolve

DEFAULT_TIMEOUT = 10.0


def _arguments(params: dict[str, Any], client: Client) -> tuple[list[Any], dict[str, Any]]:
    args = params.get("args", [])
    kwargs = params.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise RpcError(ERR_INVALID, "'args' must be a list and 'kwargs' an object")
    source = params.get("arguments")
    if isinstance(source, str) and source.strip():
        scanner.guard(source, params, "arguments")
        packed = evaluate.run_expression(f"(lambda *a, **k: (a, k))({source})", params, client,
                                         "arguments")
        args, kwargs = list(args) + list(packed[0]), dict(kwargs, **packed[1])
    return args, kwargs


def _target(params: dict[str, Any], client: Client, what: str) -> tuple[str, Callable[..., Any],
                                                                         dict[str, Any]]:
    """(path, callable, scan report) for ``target``, checked by the safety policy."""
    path = need_str(params, "target")
    fn = resolve(path, client).value
    if not callable(fn):
        raise RpcError(ERR_INVALID, f"{path} is a {type_name(type(fn))}, not callable")
    report = scanner.guard_callable(fn, path, params, what)
    return path, fn, report


def call(params: dict[str, Any]) -> dict[str, Any]:
    client = get(params)
    path, fn, report = _target(params, client, "call")
    args, kwargs = _arguments(params, client)
    timeout = number(params, "timeout", DEFAULT_TIMEOUT, 0.01)
    where = params.get("loop", "auto")
    if where not in ("auto", "program", "private", "thread"):
        raise RpcError(ERR_INVALID, "'loop' must be auto, program, private or thread")
    if _is_async(fn) and where != "thread":
        run = runner.run_coroutine(lambda: fn(*args, **kwargs), kind="call", client=client.name,
                                   timeout=timeout, private=where == "private")
    else:
        run = runner.run_in_thread(lambda: fn(*args, **kwargs), kind="call", client=client.name,
                                   timeout=timeout)
        if run.error is None and run.done.is_set() and pyinspect.isawaitable(run.result):
            awaitable = run.result
            run = runner.run_coroutine(lambda: awaitable, kind="call", client=client.name,
                                       timeout=timeout, private=where == "private")
    answer = run.outcome()
    answer["scan"] = {"risk": report.get("risk", 0), "findings": report.get("findings", [])}
    audit.write({"action": "call", "client": client.name, "run": run.run_id, "target": path,
                 "args": safe_repr(args, 300), "kwargs": safe_repr(kwargs, 300),
                 "status": answer["status"], "where": answer.get("where")})
    return answer


def _is_async(fn: Any) -> bool:
    inner = getattr(fn, "__func__", fn)
    method = type(inner).__dict__.get("__call__")  # an instance whose __call__ is async
    return pyinspect.iscoroutinefunction(inner) or pyinspect.iscoroutinefunction(method)


# -- messages ------------------------------------------------------------------------------------


def _asyncio_queue(obj: Any) -> bool:
    aio = __import__("sys").modules.get("asyncio")
    return aio is not None and isinstance(obj, aio.Queue)


def send_message(params: dict[str, Any]) -> dict[str, Any]:
    client = get(params)
    path = need_str(params, "queue")
    queue = resolve(path, client).value
    value, scan = evaluate.value_from(params, client, "message")
    delay = number(params, "delay", 0.0)
    timeout = number(params, "timeout", 5.0, 0.0)
    if _asyncio_queue(queue):
        answer = _to_asyncio_queue(queue, value, delay, timeout)
    elif callable(getattr(queue, "put", None)):
        answer = _to_queue(queue, value, delay, timeout, client)
    elif isinstance(queue, (collections.deque, list)):
        append = collections.deque.append if isinstance(queue, collections.deque) else list.append
        if delay:
            def later() -> None:
                time.sleep(delay)
                atomic.apply([(append, queue, value)])

            spawn("devsandbox delayed message", later)
            answer = {"status": "scheduled", "kind": type_name(type(queue)), "delay": delay}
        else:
            atomic.apply([(append, queue, value)])
            answer = {"status": "delivered", "kind": type_name(type(queue))}
    else:
        raise RpcError(ERR_INVALID, f"{path} is a {type_name(type(queue))}: not a queue "
                       "(queue.Queue, asyncio.Queue, anything with put(), a deque or a list)")
    answer["queue"] = path
    if scan:
        answer["scan"] = scan
    audit.write({"action": "message", "client": client.name, "queue": path,
                 "value": safe_repr(value, 400), "delay": delay, "status": answer["status"]})
    return answer


def _to_queue(queue: Any, value: Any, delay: float, timeout: float,
              client: Client) -> dict[str, Any]:
    kind = type_name(type(queue))

    def put() -> None:
        try:
            queue.put(value, True, timeout)
        except TypeError:  # a put() without block/timeout parameters
            queue.put(value)

    if delay:
        def later() -> None:
            time.sleep(delay)
            run = runner.run_in_thread(put, kind="message", client=client.name,
                                       timeout=timeout + 1)
            if run.error is not None:
                audit.write({"action": "message-failed", "client": client.name, "kind": kind,
                             "error": f"{type_name(type(run.error))}: {run.error}"})

        spawn("devsandbox delayed message", later)
        return {"status": "scheduled", "kind": kind, "delay": delay}
    run = runner.run_in_thread(put, kind="message", client=client.name, timeout=timeout + 1)
    if run.error is not None:
        full = type(run.error).__name__ == "Full"
        detail = "the queue stayed full" if full else f"{type_name(type(run.error))}: {run.error}"
        return {"status": "timeout" if full else "error", "kind": kind,
                "error": f"{detail} ({timeout:g} s)" if full else detail}
    if not run.done.is_set():
        return {"status": "timeout", "kind": kind, "error": "put() did not return"}
    return {"status": "delivered", "kind": kind}


def _to_asyncio_queue(queue: Any, value: Any, delay: float, timeout: float) -> dict[str, Any]:
    loop = getattr(queue, "_loop", None)
    if loop is None:
        loops = runner.program_loops()
        if len(loops) != 1:
            raise RpcError(ERR_INVALID, "this asyncio.Queue is not bound to a loop yet and the "
                           f"program runs {len(loops)} loops: cannot tell which one owns it")
        loop = loops[0]
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def put() -> None:
        try:
            queue.put_nowait(value)
            outcome["status"] = "delivered"
        except Exception as exc:  # noqa: BLE001  (QueueFull, or the program's own queue class)
            outcome["status"] = "error"
            outcome["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        done.set()

    kind = type_name(type(queue))
    if delay:
        loop.call_soon_threadsafe(loop.call_later, delay, put)
        return {"status": "scheduled", "kind": kind, "delay": delay}
    loop.call_soon_threadsafe(put)
    if done.wait(timeout):
        return dict(outcome, kind=kind)
    note = ("the program is paused by the debugger: the message is put on the queue when the "
            "loop runs again") if runner.program_paused() else "the loop did not run it in time"
    return {"status": "pending", "kind": kind, "note": note}


# -- workers -------------------------------------------------------------------------------------


@dataclass
class Worker:
    worker_id: str
    kind: str
    name: str
    target: str
    client: str
    run: runner.Run
    stop: threading.Event | None = None
    future: Any = None
    started: float = field(default_factory=time.time)
    stopped: bool = False

    def summary(self) -> dict[str, Any]:
        return {"worker": self.worker_id, "kind": self.kind, "name": self.name,
                "target": self.target, "client": self.client, "started": self.started,
                "running": not self.run.done.is_set(), "stopRequested": self.stopped,
                "thread": self.run.ident if self.kind == "thread" else None}


_workers: dict[str, Worker] = {}
_worker_ids = itertools.count(1)


def _worker_callable(params: dict[str, Any], client: Client) -> tuple[str, Callable[..., Any]]:
    if isinstance(params.get("code"), str):
        source = params["code"]
        entry = params.get("entry", "worker")
        if not isinstance(entry, str) or not entry.isidentifier():
            raise RpcError(ERR_INVALID, "'entry' must name the function the code defines")
        scanner.guard(source, params, "worker")
        try:
            code, _ = evaluate.compile_source(source, "worker")
        except SyntaxError as exc:
            raise RpcError(ERR_INVALID, f"syntax error in the worker code, line {exc.lineno}: "
                           f"{exc.msg}") from None
        namespace = evaluate.namespace_for(params, client)
        run = evaluate.execute(code, namespace, False, kind="worker-code", client=client,
                               timeout=number(params, "timeout", DEFAULT_TIMEOUT, 0.01))
        if run.error is not None or not run.done.is_set():
            raise RpcError(ERR_INVALID, f"the worker code failed: {run.outcome().get('error')}")
        fn = namespace.get(entry)
        if not callable(fn):
            raise RpcError(ERR_INVALID, f"the code does not define a callable {entry!r}")
        return f"<code>:{entry}", fn
    path, fn, _ = _target(params, client, "worker")
    return path, fn


def _takes_stop(fn: Callable[..., Any]) -> bool:
    try:
        return "stop" in pyinspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def start_worker(params: dict[str, Any]) -> dict[str, Any]:
    client = get(params)
    kind = params.get("kind", "thread")
    if kind not in ("thread", "task"):
        raise RpcError(ERR_INVALID, "'kind' must be thread or task")
    label, fn = _worker_callable(params, client)
    args, kwargs = _arguments(params, client)
    worker_id = f"w{next(_worker_ids)}"
    given = params.get("name")
    name = given if isinstance(given, str) and given else f"devsandbox {worker_id}"
    run = runner.Run("worker", client.name, capture=bool(params.get("capture", False)))
    worker = Worker(worker_id, kind, name, label, client.name, run)
    if kind == "thread":
        if _takes_stop(fn) and "stop" not in kwargs:
            worker.stop = kwargs["stop"] = threading.Event()
        run.location = "thread"
        runner.start_thread(run, lambda: fn(*args, **kwargs), name)
    else:
        loops = runner.program_loops()
        if len(loops) != 1:
            raise RpcError(ERR_INVALID, f"a task needs the program's asyncio loop; it runs "
                           f"{len(loops)} loops")
        run.location = "program loop"
        worker.future = asyncio.run_coroutine_threadsafe(
            runner._wrapped(run, lambda: fn(*args, **kwargs)), loops[0])
        worker.future.add_done_callback(lambda _f: run.finish())
    _workers[worker_id] = worker
    answer = worker.summary()
    if kind == "task" and runner.program_paused():
        answer["note"] = "the program is paused by the debugger: the task starts when it runs again"
    audit.write({"action": "startWorker", "client": client.name, "worker": worker_id,
                 "kind": kind, "target": label, "name": name})
    return answer


def stop_worker(params: dict[str, Any]) -> dict[str, Any]:
    client = get(params)
    worker_id = need_str(params, "worker")
    worker = _workers.get(worker_id)
    if worker is None:
        raise RpcError(ERR_INVALID, f"no worker {worker_id!r}")
    timeout = number(params, "timeout", 5.0, 0.0)
    worker.stopped = True
    how = "already finished"
    if not worker.run.done.is_set():
        if worker.kind == "thread":
            how = "asked to stop"
            if worker.stop is not None:
                worker.stop.set()
            if not worker.run.done.wait(timeout if worker.stop is not None else 0.0):
                if worker.run.ident is not None:
                    runner.async_raise(worker.run.ident, runner.WorkerStopped)
                how = "interrupted (WorkerStopped raised inside it)"
                worker.run.done.wait(runner.GRACE + timeout)
        else:
            worker.future.cancel()
            how = "cancelled"
            worker.run.done.wait(timeout)
    answer = worker.summary()
    answer["how"] = how
    answer["stoppedInTime"] = worker.run.done.is_set()
    answer["stdout"] = worker.run.out["stdout"].getvalue()
    answer["stderr"] = worker.run.out["stderr"].getvalue()
    audit.write({"action": "stopWorker", "client": client.name, "worker": worker_id, "how": how,
                 "stopped": worker.run.done.is_set()})
    return answer


def workers(params: dict[str, Any]) -> dict[str, Any]:
    return {"workers": [w.summary() for w in _workers.values()]}
