"""Run a program under the recorder, as python would run it.

    python -m devsandbox.recorder [--options JSON] -- PROGRAM [ARGS...]
    python -m devsandbox.recorder [--options JSON] -- -m MODULE [ARGS...]

sys.argv, sys.path[0], __main__, stdout, stderr and the exit status are the
program's; this launcher's own frames are outside the recording's scope and
are removed from tracebacks.  ``devsandbox record`` runs this.
"""

from __future__ import annotations

import atexit
import builtins
import json
import os
import runpy
import sys
import threading
import types
from importlib.machinery import SourceFileLoader
from typing import Any

from . import start

USAGE = "usage: python -m devsandbox.recorder [--options JSON] -- PROGRAM [ARGS] | -- -m MODULE [ARGS]"


def _parse(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    options: dict[str, Any] = {}
    i = 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--options" and i + 1 < len(argv):
            options = json.loads(argv[i + 1])
            i += 2
        else:
            raise SystemExit(USAGE)
    rest = argv[i + 1 :]
    if not rest or (rest[0] == "-m" and len(rest) < 2):
        raise SystemExit(USAGE)
    return options, rest


def _user_traceback(exc: BaseException) -> Any:
    """The traceback without this launcher's and runpy's frames."""
    tb = exc.__traceback__
    here = os.path.dirname(os.path.abspath(__file__))
    while tb is not None:
        fn = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if not (fn.startswith(here) or fn == os.path.abspath(runpy.__file__)
                or tb.tb_frame.f_code.co_filename == "<frozen runpy>"):
            break
        tb = tb.tb_next
    return tb


def run_script(path: str) -> None:
    """Run a script file as ``python path`` does: a fresh ``__main__`` module."""
    module = types.ModuleType("__main__")
    module.__dict__.update(
        __file__=path, __cached__=None, __builtins__=builtins, __spec__=None, __package__=None,
        __loader__=SourceFileLoader("__main__", path),
    )
    sys.modules["__main__"] = module
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    exec(code, module.__dict__)


def _private_dir() -> str:
    """A new directory only this user can read, in the temporary directory."""
    base = os.environ.get("TMPDIR") or "/tmp"
    if not os.path.isdir(base):
        import tempfile

        return tempfile.mkdtemp(prefix="devsandbox-record-")
    while True:
        path = os.path.join(base, f"devsandbox-record-{os.urandom(6).hex()}")
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


def _remove_dir(path: str) -> None:
    try:  # the usual content: sitecustomize.py and a symlink
        for name in os.listdir(path):
            os.unlink(os.path.join(path, name))
        os.rmdir(path)
    except OSError:
        import shutil

        shutil.rmtree(path, True)


def _record_children(options: dict[str, Any], recorder: Any) -> None:
    """Child Python processes record too (unless "children" is false): each into its own
    file beside this one, through the agent's bootstrap (sitecustomize) on PYTHONPATH."""
    if not options.get("children", True) or not recorder.path:
        return
    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.dirname(here)  # adapters/devsandbox (or site-packages/devsandbox)
    site = os.path.join(package, "agent", "_site", "sitecustomize.py")
    if not os.path.exists(site):
        return
    # (os only: tempfile and shutil would add their imports to the program's start-up)
    boot = _private_dir()
    with open(site, "rb") as src, open(os.path.join(boot, "sitecustomize.py"), "wb") as dst:
        dst.write(src.read())
    try:
        os.symlink(package, os.path.join(boot, "devsandbox"), target_is_directory=True)
    except OSError:
        import shutil

        shutil.copytree(package, os.path.join(boot, "devsandbox"),
                        ignore=shutil.ignore_patterns("__pycache__"))
    atexit.register(_remove_dir, boot)
    child = {k: v for k, v in options.items() if k not in ("out", "program", "argv")}
    os.environ["DEVSANDBOX_OPTIONS"] = json.dumps(
        {"record": child or True, "recordingPath": os.path.dirname(recorder.path)})
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = boot + (os.pathsep + old if old else "")


def main(argv: list[str]) -> int:
    options, rest = _parse(argv)
    if rest[0] == "-m":
        module, args = rest[1], rest[2:]
        sys.argv = [module, *args]  # runpy replaces argv[0] with the module's file
        sys.path[0] = os.getcwd()
        options.setdefault("program", module)
    else:
        program, args = os.path.abspath(rest[0]), rest[1:]
        sys.argv = [rest[0], *args]
        sys.path[0] = os.path.dirname(program)
        options.setdefault("program", program)
    options.setdefault("argv", list(rest))
    recorder = start(options)
    _record_children(options, recorder)
    code = 0
    reason = "exit"
    try:
        if rest[0] == "-m":
            runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
        else:
            run_script(program)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException as exc:  # noqa: BLE001 - reported as python would
        code = 130 if isinstance(exc, KeyboardInterrupt) else 1
        reason = "uncaught exception"
        tb = _user_traceback(exc)
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
    # like the interpreter: wait for non-daemon threads, then finish
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001
        pass
    recorder.stop(reason, code)
    return code


if __name__ == "__main__":
    try:
        status = main(sys.argv[1:])
    except SystemExit:
        raise
    except Exception:  # noqa: BLE001 - a failure of the launcher itself
        import traceback

        traceback.print_exc()
        status = 70
    sys.exit(status)
