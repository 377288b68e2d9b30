"""Live state, injection and hot swap: the agent methods ``live/<verb>`` (see ``wire.LIVE_VERBS``).

Everything here runs on the agent's hidden threads (or on worker threads it
starts) while the program keeps running, and while debugpy holds it at a
breakpoint: pydevd neither traces nor suspends those threads.

Modules (imported on first use, so that a program pays nothing until a live
feature is asked for):

- ``paths``: the path syntax ``pkg.mod:NAME.attr[key][0]`` and ``$N`` handles;
- ``atomic``: applying a list of stores as one C-level step (the GIL is never
  released in between), used by every mutation;
- ``state``: inspect and find; ``changes``: set (replace / deep_merge /
  partial_update), rollback, bulk transforms, backups;
- ``runner``: worker threads with timeouts, captured output, asyncio loops;
- ``inject``: calls, queue messages, workers;
- ``evaluate``: multi-line evaluation with a namespace per client, completions;
- ``scanner``: the AST security scanner and the safety levels;
- ``audit``: the append-only JSON-lines audit log and the audit hook;
- ``hotswap`` (with ``reloadplan``): reloading a module's source in place,
  versions and revert.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .. import wire

# verb -> (module, function)
_TABLE: dict[str, tuple[str, str]] = {
    "inspect": ("state", "inspect"),
    "find": ("state", "find"),
    "set": ("changes", "set_value"),
    "rollback": ("changes", "rollback"),
    "transform": ("changes", "transform"),
    "backup": ("changes", "backup"),
    "restore": ("changes", "restore"),
    "changes": ("changes", "changes"),
    "call": ("inject", "call"),
    "sendMessage": ("inject", "send_message"),
    "startWorker": ("inject", "start_worker"),
    "stopWorker": ("inject", "stop_worker"),
    "workers": ("inject", "workers"),
    "eval": ("evaluate", "evaluate"),
    "completions": ("evaluate", "completions"),
    "scan": ("scanner", "scan_request"),
    "setSafety": ("clients", "set_safety"),
    "audit": ("audit", "read_request"),
    "hotReload": ("hotswap", "hot_reload"),
    "revertReload": ("hotswap", "revert_reload"),
    "reloads": ("hotswap", "reloads"),
}


def _lazy(module: str, function: str) -> Callable[[Any], Any]:
    def handler(params: Any) -> Any:
        mod = importlib.import_module(f"{__name__}.{module}")
        return getattr(mod, function)(params if isinstance(params, dict) else {})

    return handler


# Verbs that may take long (they run the program's code or walk the heap): answered on
# their own thread, so that an inspect is not held up behind a ten-second eval.
_CONCURRENT = frozenset({"call", "eval", "find"})


def install(register: Callable[..., None]) -> None:
    """Register every ``live/<verb>`` method with the agent."""
    assert set(_TABLE) == set(wire.LIVE_VERBS), "wire.LIVE_VERBS and the table disagree"
    for verb, (module, function) in _TABLE.items():
        register(wire.LIVE_PREFIX + verb, _lazy(module, function),
                 concurrent=verb in _CONCURRENT)
