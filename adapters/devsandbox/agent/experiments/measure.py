"""Measuring arms (the baseline and the variants) on the same inputs, in this process.

1. Outcomes: each arm is called once per input (fresh deep copies of the
   arguments, a per-call time limit when running on the main thread); the
   variants' results are compared with the baseline's with ``==`` on the real
   objects.
2. Timing: rounds over all inputs, the arms interleaved and their order
   rotated each round; wall time (``perf_counter_ns``) and CPU time
   (``thread_time_ns``) of each call; a round's total per arm is one sample.
   The number of rounds is ``repeat``, fewer when a time budget would be
   exceeded (never fewer than ``minRounds``).
3. Memory: one more call per arm and input under ``tracemalloc``; the peak.

The measured region is the call alone: argument copies are made before it and
timer reads cost well under a microsecond (``overhead()`` measures it).
"""

from __future__ import annotations

import copy
import math
import signal
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from ..values import safe_repr, type_name
from . import stats

REPR_LIMIT = 300


class CallTimeout(BaseException):
    """A call ran longer than the per-call limit (a BaseException: not caught by the code)."""


@dataclass
class Arm:
    name: str
    fn: Callable[..., Any]
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)  # ("returned", value) | ("raised", exc) | None
    rounds: list[int] = field(default_factory=list)
    cpu_rounds: list[int] = field(default_factory=list)
    per_input: list[list[int]] = field(default_factory=list)
    memory: list[int | None] = field(default_factory=list)


@dataclass
class Settings:
    repeat: int = 30
    min_rounds: int = 5
    budget: float = 10.0  # seconds of timing per run (all arms)
    call_timeout: float = 10.0
    copy_inputs: bool = True
    memory: bool = True

    @classmethod
    def from_job(cls, job: dict[str, Any]) -> Settings:
        s = cls()
        for key, attr in (("repeat", "repeat"), ("minRounds", "min_rounds"), ("budget", "budget"),
                          ("callTimeout", "call_timeout")):
            value = job.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                setattr(s, attr, type(getattr(s, attr))(value))
        s.copy_inputs = job.get("copyInputs", True) is not False
        s.memory = job.get("memory", True) is not False
        s.min_rounds = min(s.min_rounds, s.repeat)
        return s


def _copy(value: Any, enabled: bool) -> Any:
    if not enabled:
        return value
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001  (not copyable: share it)
        return value


class _Alarm:
    """A per-call time limit through SIGALRM (main thread only; else no limit)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.enabled = (seconds > 0 and hasattr(signal, "setitimer")
                        and threading.current_thread() is threading.main_thread())
        self.previous: Any = None

    def __enter__(self) -> Self:
        if self.enabled:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)

    def _fire(self, signum: int, frame: Any) -> None:
        raise CallTimeout(f"the call ran longer than {self.seconds:g} s")


def _describe(outcome: Any) -> dict[str, Any]:
    if outcome is None:
        return {"status": "timeout"}
    kind, value = outcome
    if kind == "returned":
        return {"status": "returned", "value": safe_repr(value, REPR_LIMIT),
                "type": type_name(type(value))}
    return {"status": "raised", "type": type_name(type(value)),
            "message": _message(value)}


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:REPR_LIMIT]
    except Exception:  # noqa: BLE001
        return "<unprintable>"


def same(a: Any, b: Any) -> bool:
    """Do two outcomes agree?  Results by ``==`` (NaN equals NaN; repr when ``==`` fails);
    exceptions by type."""
    if a is None or b is None:
        return a is None and b is None
    if a[0] != b[0]:
        return False
    x, y = a[1], b[1]
    if a[0] == "raised":
        return type(x) is type(y)
    if x is y:
        return True
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    try:
        return bool(x == y)
    except Exception:  # noqa: BLE001  (arrays and the like)
        return safe_repr(x, 10_000) == safe_repr(y, 10_000)


def outcomes(arms: Sequence[Arm], calls: Sequence[tuple[tuple[Any, ...], dict[str, Any]]],
             settings: Settings) -> list[float]:
    """Call every arm once per input; returns the seconds each input took (all arms)."""
    spent = []
    for args, kwargs in calls:
        start = time.perf_counter()
        for arm in arms:
            a, k = _copy(args, settings.copy_inputs), _copy(kwargs, settings.copy_inputs)
            result: Any
            try:
                with _Alarm(settings.call_timeout):
                    result = ("returned", arm.fn(*a, **k))
            except CallTimeout:
                result = None
            except Exception as exc:  # noqa: BLE001  (the variant's own error is a result)
                result = ("raised", exc)
            arm.values.append(result)
            arm.outcomes.append(_describe(result))
        spent.append(time.perf_counter() - start)
    return spent


def timing(arms: Sequence[Arm], calls: Sequence[tuple[tuple[Any, ...], dict[str, Any]]],
           settings: Settings, spent: Sequence[float]) -> int:
    """Interleaved rounds; returns how many ran."""
    usable = [i for i in range(len(calls)) if all(arm.values[i] is not None for arm in arms)]
    per_round = sum(spent[i] for i in usable) or 1e-9
    rounds = max(settings.min_rounds, min(settings.repeat, int(settings.budget / per_round)))
    if not usable:
        rounds = 0
    for arm in arms:
        arm.per_input = [[] for _ in calls]
    perf, cpu = time.perf_counter_ns, time.thread_time_ns
    cpu_cost = _cpu_clock_cost() if rounds else 0  # the CPU window holds timer reads too
    for r in range(rounds):
        order = list(arms[r % len(arms):]) + list(arms[:r % len(arms)])
        for arm in order:
            prepared = [(i, _copy(calls[i][0], settings.copy_inputs),
                         _copy(calls[i][1], settings.copy_inputs)) for i in usable]
            fn = arm.fn
            wall_total = cpu_total = 0
            samples = arm.per_input
            for i, a, k in prepared:
                c0 = cpu()
                t0 = perf()
                try:
                    fn(*a, **k)
                except Exception:  # noqa: BLE001, S110  (its outcome is known already)
                    pass
                t1 = perf()
                c1 = cpu()
                wall_total += t1 - t0
                cpu_total += c1 - c0
                samples[i].append(t1 - t0)
            arm.rounds.append(wall_total)
            arm.cpu_rounds.append(max(0, cpu_total - cpu_cost * len(prepared)))
    return rounds


def _cpu_clock_cost(samples: int = 300) -> int:
    """The CPU time the timer reads around a call add (median, nanoseconds)."""
    perf, cpu = time.perf_counter_ns, time.thread_time_ns
    seen = []
    for _ in range(samples):
        c0 = cpu()
        perf()
        _noop()
        perf()
        c1 = cpu()
        seen.append(c1 - c0)
    seen.sort()
    return seen[len(seen) // 2]


def memory(arms: Sequence[Arm], calls: Sequence[tuple[tuple[Any, ...], dict[str, Any]]],
           settings: Settings) -> None:
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        for arm in arms:
            arm.memory = []
            for i, (args, kwargs) in enumerate(calls):
                if arm.values[i] is None:
                    arm.memory.append(None)
                    continue
                a, k = _copy(args, settings.copy_inputs), _copy(kwargs, settings.copy_inputs)
                tracemalloc.reset_peak()
                before = tracemalloc.get_traced_memory()[0]
                try:
                    with _Alarm(settings.call_timeout):
                        result = arm.fn(*a, **k)
                    del result
                except CallTimeout:
                    pass
                except Exception:  # noqa: BLE001, S110
                    pass
                peak = tracemalloc.get_traced_memory()[1]
                arm.memory.append(max(0, peak - before))
    finally:
        if not was_tracing:
            tracemalloc.stop()


def overhead(rounds: int = 2000) -> float:
    """The harness's own cost per measured call in nanoseconds: the median over ``rounds``
    of what the timing loop measures around a call of an empty function."""
    arm = Arm("noop", _noop)
    arm.values = [("returned", None)]
    settings = Settings(repeat=rounds, min_rounds=rounds, budget=1e9, copy_inputs=False)
    timing([arm], [((), {})], settings, [1e-7])
    return float(stats.summary(arm.per_input[0])["median"])


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def measure(arms: Sequence[Arm], calls: Sequence[tuple[tuple[Any, ...], dict[str, Any]]],
            settings: Settings) -> dict[str, Any]:
    """Run all three passes; the raw results per arm (no analysis)."""
    spent = outcomes(arms, calls, settings)
    rounds = timing(arms, calls, settings, spent)
    if settings.memory:
        memory(arms, calls, settings)
    return {"rounds": rounds, "arms": [arm_report(arm) for arm in arms]}


def arm_report(arm: Arm) -> dict[str, Any]:
    per_input = [stats.summary(s)["median"] if s else None for s in arm.per_input]
    known = [m for m in arm.memory if m is not None]
    return {
        "name": arm.name,
        "outcomes": arm.outcomes,
        "raised": sum(1 for o in arm.outcomes if o["status"] == "raised"),
        "timeouts": sum(1 for o in arm.outcomes if o["status"] == "timeout"),
        "samples": arm.rounds,
        "wall": stats.summary(arm.rounds),
        "cpu": stats.summary(arm.cpu_rounds),
        "perInputMedian": per_input,
        "memory": {"peakMax": max(known) if known else None,
                   "peakMedian": stats.summary(known).get("median") if known else None,
                   "perInput": arm.memory},
    }


def differences(baseline: Arm, arm: Arm, ids: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for i, ident in enumerate(ids):
        if not same(baseline.values[i], arm.values[i]):
            out.append({"input": ident, "baseline": baseline.outcomes[i],
                        "variant": arm.outcomes[i]})
    return out
