"""An independent reference recorder: plain sys.settrace, repr() of every
local at every event.  Used by the fidelity tests as ground truth.

    python reference.py OUT.jsonl SCOPE_DIR -- PROGRAM [ARGS]

The program is run like ``python -m devsandbox.recorder`` runs it (a fresh
``__main__`` module), so that module-level values match.
"""

from __future__ import annotations

import _thread
import json
import os
import sys
import threading


def safe_repr(value):
    try:
        return repr(value)
    except Exception as exc:  # noqa: BLE001
        return f"<repr failed: {type(exc).__name__}>"


def type_name(t):
    mod = getattr(t, "__module__", "builtins")
    return t.__qualname__ if mod == "builtins" else f"{mod}.{t.__qualname__}"


def main() -> None:
    out, scope = sys.argv[1], os.path.abspath(sys.argv[2]) + os.sep
    program = os.path.abspath(sys.argv[4])
    events = []

    def tracer(frame, event, arg):
        code = frame.f_code
        if not code.co_filename.startswith(scope):
            return None
        t = threading._active.get(threading.get_ident())
        ev = {
            "thread_name": t.name if t is not None else None,
            "thread": threading.get_ident(),
            "kind": event,
            "file": code.co_filename,
            "line": frame.f_lineno,
            "function": code.co_qualname,
            "locals": {k: safe_repr(v) for k, v in frame.f_locals.items()},
        }
        if event == "return":
            ev["return"] = safe_repr(arg)
        elif event == "exception":
            ev["exception"] = {"type": type_name(arg[0]), "value": safe_repr(arg[1])}
        events.append(ev)
        return tracer

    real_start = _thread.start_new_thread

    def start_new_thread(function, args, kwargs=None):
        def bootstrap(*a, **k):
            sys.settrace(tracer)
            return function(*a, **k)

        return real_start(bootstrap, args, kwargs or {})

    _thread.start_new_thread = start_new_thread
    sys.argv = sys.argv[4:]
    sys.path[0] = os.path.dirname(program)
    from devsandbox.recorder.__main__ import run_script

    threading.settrace(tracer)
    sys.settrace(tracer)
    code = 0
    try:
        run_script(program)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001
        code = 1
    threading._shutdown()
    sys.settrace(None)
    with open(out, "w", encoding="utf-8") as f:
        for ev in events:
            f.write(json.dumps(ev, ensure_ascii=False) + "\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
