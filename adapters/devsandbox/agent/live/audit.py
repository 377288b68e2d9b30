"""The append-only audit log: one JSON object per line under ``.devsandbox/audit/``.

Every change (set, transform, restore, rollback, reload, revert), every run of
injected code (call, eval, worker, message) and every file, network and
subprocess event such code causes is written here with the time, the client,
the process and, for changes, the old and new values' safe repr and the change
id.  Files are named by day (``2025-01-31.jsonl``); each entry is written with
one ``write`` on a file opened with O_APPEND, so several processes can share
the directory.

Where: the agent option ``auditDir`` (launch configuration's ``devsandbox``
section), else ``$DEVSANDBOX_AUDIT_DIR``, else ``.devsandbox/audit`` under the
program's working directory when the agent first needed it.

The events of injected code come from a ``sys.addaudithook`` hook, installed
the first time code is injected (a hook cannot be removed; while nothing is
injected it returns at its first line).  Runs are told apart with a context
variable, so events of the program's own threads and tasks are never logged.
"""

from __future__ import annotations

import contextvars
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .clients import integer

ENV_DIR = "DEVSANDBOX_AUDIT_DIR"
MAX_EVENTS_PER_RUN = 200
MAX_ARG_TEXT = 300

# event names (or prefixes ending in ".") that are logged while injected code runs
EVENTS = ("open", "os.", "shutil.", "socket.", "subprocess.", "urllib.", "http.client.",
          "ftplib.", "smtplib.", "poplib.", "imaplib.", "telnetlib.", "ctypes.dlopen",
          "ctypes.dlsym", "pty.", "webbrowser.", "sqlite3.connect", "tempfile.", "glob.glob")
_SKIP = ("os.listdir", "os.scandir", "os.chdir") + ("os.walk",)  # reads, too chatty to keep

_dir: str | None = None
_write_lock = threading.Lock()
_busy = threading.local()  # reentrancy: our own file writes raise audit events too
_hook_installed = False
_current: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("devsandbox_run",
                                                                      default=None)


class _Run:
    __slots__ = ("client", "events", "run_id")

    def __init__(self, run_id: str, client: str) -> None:
        self.run_id = run_id
        self.client = client
        self.events = 0


def directory() -> str:
    global _dir
    if _dir is None:
        from .. import options

        configured = options().get("auditDir") or os.environ.get(ENV_DIR)
        if isinstance(configured, str) and configured:
            _dir = os.path.abspath(configured)
        else:
            _dir = os.path.join(os.getcwd(), ".devsandbox", "audit")
    return _dir


def write(entry: dict[str, Any]) -> None:
    """Append one entry (time and pid are added); failures are logged, never raised."""
    now = time.time()
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) +
              f".{int(now % 1 * 1000):03d}", "ts": now, "pid": os.getpid()}
    record.update(entry)
    line = (json.dumps(record, default=_text, ensure_ascii=False) + "\n").encode("utf-8")
    _busy.active = True
    try:
        path = directory()
        os.makedirs(path, mode=0o700, exist_ok=True)
        name = os.path.join(path, time.strftime("%Y-%m-%d", time.localtime(now)) + ".jsonl")
        with _write_lock:
            fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
    except OSError as exc:
        from ..rpc import log

        log.warning("could not write the audit log: %s", exc)
    finally:
        _busy.active = False


def read(limit: int = 200, **match: Any) -> list[dict[str, Any]]:
    """The last ``limit`` entries whose fields equal ``match`` (None values ignored)."""
    wanted = {k: v for k, v in match.items() if v is not None}
    path = directory()
    try:
        names = sorted(n for n in os.listdir(path) if n.endswith(".jsonl"))
    except OSError:
        return []
    found: list[dict[str, Any]] = []
    for name in names:
        try:
            with open(os.path.join(path, name), encoding="utf-8") as f:
                lines = f.readlines()
        except OSError:
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and all(entry.get(k) == v for k, v in wanted.items()):
                found.append(entry)
    return found[-limit:] if limit else found


def read_request(params: dict[str, Any]) -> dict[str, Any]:
    limit = integer(params, "limit", 200, 0, 100_000)
    match = {key: params.get(key) for key in ("change", "client", "action", "run", "pid")}
    return {"directory": directory(), "entries": read(limit, **match)}


# -- events caused by injected code ------------------------------------------------------------


@contextmanager
def running(run_id: str, client: str) -> Iterator[None]:
    """Attribute the audit events of the current context (thread or task) to a run."""
    _install_hook()
    token = _current.set(_Run(run_id, client))
    try:
        yield
    finally:
        _current.reset(token)


def context_for(run_id: str, client: str) -> contextvars.Context:
    """A context in which the run is current (for code started in another thread or loop)."""
    _install_hook()
    context = contextvars.copy_context()
    context.run(_current.set, _Run(run_id, client))
    return context


def _install_hook() -> None:
    global _hook_installed
    if not _hook_installed:
        _hook_installed = True
        sys.addaudithook(_hook)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    run = _current.get()
    if run is None or getattr(_busy, "active", False):
        return
    if not event.startswith(EVENTS) or event.startswith(_SKIP):
        return
    run.events += 1
    if run.events > MAX_EVENTS_PER_RUN:
        return
    entry: dict[str, Any] = {"action": "event", "event": event, "run": run.run_id,
                             "client": run.client, "args": _args_text(args)}
    if run.events == MAX_EVENTS_PER_RUN:
        entry["note"] = f"further events of this run are not logged (limit {MAX_EVENTS_PER_RUN})"
    write(entry)


def _args_text(args: tuple[Any, ...]) -> str:
    text = ", ".join(_text(a) for a in args)
    return text if len(text) <= MAX_ARG_TEXT else text[: MAX_ARG_TEXT - 1] + "…"


def _text(value: Any) -> str:
    """A short rendering that runs no code of the program's classes."""
    if type(value) in (str, bytes, int, float, bool, type(None)):
        return repr(value)[:MAX_ARG_TEXT]
    if type(value) in (tuple, list):
        return "(" + ", ".join(_text(v) for v in value[:10]) + ")"
    kind = type(value)
    return f"<{kind.__module__}.{kind.__qualname__}>"
