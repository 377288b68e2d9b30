"""An independent reference recorder: plain sys.settrace, repr() of every
local at every event.  Used by the fidelity tests as ground truth.

    python reference.py OUT.jsonl SCOPE_DIR [--edits JSON] -- PROGRAM [ARGS]

``--edits``: what a debugger session did, replayed at the same events: a list
of {"function", "line", "hit" (1-based), "set": {name: expression}, "goto":
line}; at that line event (recorded first, as the debugger stopped there)
locals are set and the frame jumps, as setVariable and goto do.

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
    rest = sys.argv[3:]
    edits = []
    if rest[:1] == ["--edits"]:
        edits = json.loads(rest[1])
        rest = rest[2:]
    assert rest[0] == "--", sys.argv
    argv = rest[1:]
    program = os.path.abspath(argv[0])
    events = []
    hits: dict[tuple[str, int], int] = {}

    def apply_edits(frame, key):
        for edit in edits:
            if (edit["function"], edit["line"]) == key and edit.get("hit", 1) == hits[key]:
                for name, expr in (edit.get("set") or {}).items():
                    frame.f_locals[name] = eval(expr, frame.f_globals, frame.f_locals)
                if edit.get("goto"):
                    frame.f_lineno = edit["goto"]

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
        if edits and event == "line":
            key = (code.co_qualname, frame.f_lineno)
            hits[key] = hits.get(key, 0) + 1
            apply_edits(frame, key)
        return tracer

    real_start = _thread.start_new_thread

    def start_new_thread(function, args, kwargs=None):
        def bootstrap(*a, **k):
            sys.settrace(tracer)
            return function(*a, **k)

        return real_start(bootstrap, args, kwargs or {})

    _thread.start_new_thread = start_new_thread
    sys.argv = argv
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
