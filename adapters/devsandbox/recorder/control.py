"""The recorder under the agent: started from the launch configuration, driven by the server.

The launch configuration's ``devsandbox`` section reaches the program as the
agent's options (JSON in DEVSANDBOX_OPTIONS).  With ``"record": true`` the
bootstrap starts recording before the program's first line
(``start_from_options``), into ``.devsandbox/recordings/`` under the working
directory, or ``recordingPath`` (a directory, or a ``.dsrec`` file).  Other
keys: ``include``, ``exclude``, ``functions`` (globs), ``maxDepth``,
``maxItems``, ``maxStr``, ``maxRepr``, ``reprBudgetMs``, ``flightRecorderMb``,
``recordChildren`` (default true: child processes record into files of their
own, named with their pid and linked to this recording), ``itemDiffs`` (default
true: a container that changed is written as its changed items; format 1.1).  ``record`` may also
be an object of recorder options (``devsandbox.recorder.start``'s names).

Agent methods (the server calls them; see ``METHODS``):
- ``recorder/status`` -> {running, path, id, events, threads, ...}
- ``recorder/flush`` -> {path, threads: [{tid, ident, name, steps, last_step}], events}
- ``recorder/start`` {options} -> status;  ``recorder/stop`` -> {path, events}
- ``recorder/mark`` {kind, text, thread?} -> {recorded, thread}: an explicit
  event (setVariable, setExpression, goto...) in the thread ``thread`` (a
  Python thread ident) or, by default, the thread the debugger holds.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Any

from . import ENV_PARENT_RECORDING, SUFFIX, Recorder, current, start

STATUS = "recorder/status"
FLUSH = "recorder/flush"
START = "recorder/start"
STOP = "recorder/stop"
MARK = "recorder/mark"

# launch configuration key -> recorder option
_KEYS = {
    "include": "include", "exclude": "exclude", "functions": "functions",
    "maxDepth": "max_depth", "maxItems": "max_items", "maxStr": "max_str",
    "maxValueSize": "max_str", "maxRepr": "max_repr", "reprBudgetMs": "repr_budget_ms",
    "flightRecorderMb": "flight_recorder_mb", "recorderBackend": "backend",
    "recordChildren": "children", "itemDiffs": "item_diffs", "recordGlobals": "globals",
    "recordAttributes": "attributes", "reprTemplates": "repr_templates", "chunkKb": "chunk_kb",
}

# debugpy's command line options that take a value (python DEBUGPY_DIR [options] target)
_DEBUGPY_VALUE_OPTIONS = {"--listen", "--connect", "--log-to", "--adapter-access-token",
                          "--parent-session-pid", "--pid"}
_DEBUGPY_FLAGS = {"--wait-for-client", "--log-to-stderr"}


def target_argv(argv: list[str]) -> list[str]:
    """The program's own command line when debugpy's launcher started it
    (``python .../debugpy --connect ... PROGRAM ARGS``); else ``argv``."""
    if not argv:
        return list(argv)
    parts = os.path.normpath(argv[0]).split(os.sep)
    if parts and parts[-1] == "__main__.py":
        parts = parts[:-1]
    if not parts or parts[-1] != "debugpy":
        return list(argv)
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in _DEBUGPY_VALUE_OPTIONS or arg.startswith("--configure-"):
            i += 2
        elif arg in _DEBUGPY_FLAGS:
            i += 1
        else:
            break
    rest = argv[i:]
    return rest[1:] if rest[:1] == ["--"] else rest


def _program(argv: list[str]) -> str | None:
    if not argv:
        return None
    if argv[0] in ("-m", "-c") and len(argv) > 1:
        return argv[1] if argv[0] == "-m" else "-c"
    return os.path.abspath(argv[0]) if argv[0] not in ("", "-") else None


def _out_path(where: str | None, program: str | None, child: bool) -> str | None:
    if not where:
        return None  # the default: .devsandbox/recordings/ under the working directory
    where = os.path.abspath(os.path.expanduser(where))
    if where.endswith(SUFFIX):
        if child:  # the parent writes that file: the child writes one named with its pid
            return f"{where[: -len(SUFFIX)]}-{os.getpid()}{SUFFIX}"
        return where
    stem = os.path.splitext(os.path.basename(program or "python"))[0] or "python"
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return os.path.join(where, f"{stem}-{stamp}-{os.getpid()}{SUFFIX}")


def _bootstrap_dir() -> str | None:
    module = sys.modules.get("sitecustomize")
    path = getattr(module, "__file__", None)
    if path and getattr(module, "_DEVSANDBOX_BOOTSTRAP", False):
        return os.path.dirname(os.path.abspath(path))
    return None


def recorder_options(opts: dict[str, Any], argv: list[str] | None = None) -> dict[str, Any]:
    """The recorder's options from the agent's (launch configuration) options."""
    record = opts.get("record")
    out: dict[str, Any] = {}
    for key, name in _KEYS.items():
        if opts.get(key) is not None:
            out[name] = opts[key]
    if isinstance(record, dict):
        out.update(record)
    args = target_argv(list(sys.argv if argv is None else argv))
    program = _program(args)
    if program is not None:
        out.setdefault("program", program)
        out.setdefault("argv", args)
    boot = _bootstrap_dir()
    if boot is not None:  # the agent's bootstrap (sitecustomize) is not the program
        out["exclude"] = [*(out.get("exclude") or ()), os.path.join(boot, "*")]
    child = bool(os.environ.get(ENV_PARENT_RECORDING))
    path = _out_path(out.pop("out", None) or opts.get("recordingPath"), program, child)
    if path is not None:
        out["out"] = path
    return out


def start_from_options(opts: dict[str, Any]) -> Recorder | None:
    """Start recording if the options ask for it (the agent's bootstrap calls this)."""
    if not opts.get("record"):
        return None
    rec = current()
    if rec is not None:
        return rec
    options = recorder_options(opts)
    if os.environ.get(ENV_PARENT_RECORDING) and options.get("children", True) is False:
        return None  # a child process, and the user opted out
    rec = start(options)
    _stop_at_exit()
    return rec


_exit_hook_registered = False


def _stop_at_exit() -> None:
    global _exit_hook_registered
    if not _exit_hook_registered:
        _exit_hook_registered = True
        atexit.register(_at_exit)


def _at_exit() -> None:
    rec = current()
    if rec is not None:
        rec.stop("exit")


# -- agent methods ------------------------------------------------------------------------------


class NotRecording(Exception):
    pass


def _require() -> Recorder:
    rec = current()
    if rec is None:
        raise NotRecording("this program is not being recorded")
    return rec


def status(params: Any) -> dict[str, Any]:
    rec = current()
    if rec is None:
        return {"running": False, "path": None, "events": 0, "threads": []}
    return rec.status()


def flush(params: Any) -> dict[str, Any]:
    return _require().flush()


def start_method(params: Any, agent_options: dict[str, Any]) -> dict[str, Any]:
    params = params if isinstance(params, dict) else {}
    extra = params.get("options") if isinstance(params.get("options"), dict) else {}
    rec = current()
    if rec is None:
        options = recorder_options({**agent_options, "record": True, **extra})
        rec = start(options)
        _stop_at_exit()
    return rec.status()


def stop_method(params: Any) -> dict[str, Any]:
    rec = _require()
    events = rec.stats().get("events", 0)
    rec.stop("stopped by the server")
    return {"path": rec.path, "events": events, "running": False}


def _held_threads() -> list[int]:
    """Idents of the threads a debugger (pydevd) holds suspended right now."""
    held = []
    for t in threading.enumerate():
        info = getattr(t, "additional_info", None)
        if info is not None and getattr(info, "pydev_state", None) == 2:  # STATE_SUSPEND
            if getattr(info, "is_in_wait_loop", True) and t.ident is not None:
                held.append(t.ident)
    return held


def mark(params: Any) -> dict[str, Any]:
    rec = _require()
    params = params if isinstance(params, dict) else {}
    kind = str(params.get("kind") or "note")
    text = params.get("text")
    if not isinstance(text, str):
        import json

        text = json.dumps(text)
    thread = params.get("thread")
    if thread is None:
        held = _held_threads()
        main = threading.main_thread().ident
        thread = main if main in held else (held[0] if held else main)
    recorded = rec.mark(kind, text, int(thread))
    return {"recorded": recorded, "thread": thread}
