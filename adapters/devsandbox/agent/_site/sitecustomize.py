"""DevSandbox bootstrap: starts the agent in a launched program, then steps aside.

The server puts a temporary directory holding a copy of this file and a
``devsandbox`` symlink (to the agent's package) first on the program's
PYTHONPATH.  Python imports this module while it starts up; it

1. starts the agent from the DEVSANDBOX_* environment variables (a failure
   prints one warning to stderr; the program always runs);
2. removes its directory from ``sys.path``, so the program sees the path plain
   Python would give it (PYTHONPATH itself stays, so child processes get the
   agent too);
3. runs the next ``sitecustomize`` on ``sys.path`` (the user's or the
   distribution's), as ``sitecustomize``; if there is none, it leaves no
   ``sitecustomize`` module behind.
"""

import os
import sys

_DEVSANDBOX_BOOTSTRAP = True  # discovery files this module under the tools, not the program


def _is_debugpy_helper() -> bool:
    """debugpy's adapter and launcher inherit the environment too, but they are not the program."""
    helpers = ("adapter", "launcher")
    args = list(getattr(sys, "orig_argv", sys.argv))
    for index, arg in enumerate(args[:-1]):
        if arg == "-m" and args[index + 1] in [f"debugpy.{h}" for h in helpers]:
            return True
    parts = os.path.normpath(sys.argv[0] if sys.argv else "").split(os.sep)
    if parts[-1] == "__main__.py":
        parts = parts[:-1]
    return len(parts) >= 2 and parts[-2] == "debugpy" and parts[-1] in helpers


def _start_agent() -> None:
    if _is_debugpy_helper():
        return
    try:
        import devsandbox.agent

        devsandbox.agent.start_from_env()
    except Exception as exc:  # noqa: BLE001  (never stop the user's program)
        address = os.environ.get("DEVSANDBOX_AGENT", "?")
        sys.stderr.write(
            f"devsandbox: warning: the agent did not start in process {os.getpid()} "
            f"(server {address}): {type(exc).__name__}: {exc}; the program runs without it\n"
        )


def _leave_sys_path(here: str) -> None:
    def same(entry: str) -> bool:
        try:
            return os.path.realpath(entry or os.curdir) == here
        except (OSError, ValueError):
            return False

    sys.path[:] = [entry for entry in sys.path if not (isinstance(entry, str) and same(entry))]
    for key in [k for k in sys.path_importer_cache if isinstance(k, str) and same(k)]:
        del sys.path_importer_cache[key]


def _chain() -> None:
    import importlib.machinery
    import importlib.util

    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", sys.path)
    if spec is None or spec.loader is None:
        # as if there were no sitecustomize at all: site ignores exactly this error, and
        # `import sitecustomize` in the program fails as it would without us
        raise ImportError("No module named 'sitecustomize'", name="sitecustomize")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module  # the import system keeps what is in sys.modules
    spec.loader.exec_module(module)  # errors propagate: site reports them as it always does


_here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
_start_agent()
_leave_sys_path(_here)
del _is_debugpy_helper, _start_agent, _leave_sys_path
_chain()
