"""Experiments: run variant implementations of a function on real inputs and compare them;
canary a variant on live calls.  The agent methods ``experiment/<verb>`` (``wire.EXPERIMENT_VERBS``).

Standard library only.  Modules (imported on first use):

- ``target``: resolving ``module:qualname``, compiling a variant in its module's
  context, replacing a function wherever it is reachable by name;
- ``inputs``: what to call it with (explicit sources, recorded calls, pickled live calls);
- ``inject``: mocks, stubs and spies for the length of a run, always undone;
- ``measure``: outcomes, interleaved timing rounds, tracemalloc peaks;
- ``stats``: quantiles, Mann-Whitney U, bootstrap interval, verdict, recommendation;
- ``host``: a whole job, in this process or one worker process per variant with
  resource limits and a timeout (``python -m devsandbox.agent.experiments``);
- ``capture``: the next N live calls; ``canary``: routing a share of live calls.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .. import wire

# verb -> (module, function)
_TABLE: dict[str, tuple[str, str]] = {
    "run": ("agentrun", "run"),
    "capture": ("capture", "capture"),
    "canaryStart": ("canary", "start"),
    "canarySetShare": ("canary", "set_share"),
    "canaryStatus": ("canary", "status"),
    "canaryStop": ("canary", "stop"),
}


SLOW = frozenset({"run", "capture"})


def _lazy(module: str, function: str) -> Callable[[Any], Any]:
    def handler(params: Any) -> Any:
        mod = importlib.import_module(f"{__name__}.{module}")
        return getattr(mod, function)(params if isinstance(params, dict) else {})

    return handler


def install(register: Callable[[str, Callable[[Any], Any]], None]) -> None:
    """Register every ``experiment/<verb>`` method with the agent."""
    assert set(_TABLE) == set(wire.EXPERIMENT_VERBS), "wire.EXPERIMENT_VERBS and the table disagree"
    for verb, (module, function) in _TABLE.items():
        method, handler = wire.EXPERIMENT_PREFIX + verb, _lazy(module, function)
        if verb in SLOW:
            try:  # a thread of its own: a long run must not hold up the connection's other requests
                register(method, handler, concurrent=True)  # type: ignore[call-arg]
                continue
            except TypeError:
                pass
        register(method, handler)
