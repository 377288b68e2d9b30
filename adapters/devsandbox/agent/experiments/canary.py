"""Canary: route a share of the program's live calls of a function to a variant.

The target is replaced (on its module or class, and wherever a module global
aliases it) by a router.  Each call goes to the variant with probability
``share``, or, when ``sticky``, by a hash of its arguments (the same arguments
always take the same route while the share stays the same).  Both routes count
calls, errors and latencies; an exception still reaches the caller.

Rollback: once the variant has had ``minCalls`` calls, if its error rate
exceeds the baseline's by more than ``threshold`` the original function is put
back at once, the canary's state becomes ``rolledBack`` and the agent sends
the notification ``experiment/canary`` to the server.
"""

from __future__ import annotations

import collections
import itertools
import random
import threading
import time
import zlib
from typing import Any

from ..rpc import RpcError
from ..values import safe_repr
from . import stats
from . import target as targets

ERR_INVALID = -32602
KEEP_LATENCIES = 5000
BUCKETS = 10_000
NOTIFICATION = "experiment/canary"

_ids = itertools.count(1)
_lock = threading.Lock()
CANARIES: dict[str, Canary] = {}


class Route:
    __slots__ = ("calls", "error_types", "errors", "last_error", "latencies")

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.latencies: collections.deque[int] = collections.deque(maxlen=KEEP_LATENCIES)
        self.error_types: collections.Counter[str] = collections.Counter()
        self.last_error = ""

    def report(self) -> dict[str, Any]:
        lat = list(self.latencies)
        summary = stats.summary(lat)
        out: dict[str, Any] = {"calls": self.calls, "errors": self.errors,
                               "errorRate": self.errors / self.calls if self.calls else 0.0,
                               "latencyNs": summary}
        if lat:
            ordered = sorted(lat)
            out["latencyNs"]["p95"] = stats.quantile(ordered, 0.95)
        if self.errors:
            out["errorTypes"] = dict(self.error_types)
            out["lastError"] = self.last_error
        return out


class Canary:
    def __init__(self, spec: str, name: str, patch: targets.Patch, baseline: Any, variant: Any,
                 share: float, sticky: bool, threshold: float, min_calls: int) -> None:
        self.id = f"canary-{next(_ids)}"
        self.spec = spec
        self.name = name
        self.patch = patch
        self.baseline = baseline
        self.variant = variant
        self.share = share
        self.sticky = sticky
        self.threshold = threshold
        self.min_calls = min_calls
        self.state = "running"
        self.reason = ""
        self.started = time.time()
        self.ended: float | None = None
        self.routes = {"baseline": Route(), "variant": Route()}
        self.history: list[dict[str, Any]] = [{"time": self.started, "share": share}]
        self.lock = threading.Lock()
        self.rng = random.Random()

    # -- the router (runs on the program's threads) --------------------------------------------

    def route(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.state != "running":
            return self.baseline(*args, **kwargs)
        if self.sticky:
            use = _bucket(args, kwargs) < self.share * BUCKETS
        else:
            use = self.rng.random() < self.share
        fn = self.variant if use else self.baseline
        route = self.routes["variant" if use else "baseline"]
        t0 = time.perf_counter_ns()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            elapsed = time.perf_counter_ns() - t0
            with self.lock:
                route.calls += 1
                route.errors += 1
                route.latencies.append(elapsed)
                route.error_types[type(exc).__name__] += 1
                route.last_error = f"{type(exc).__name__}: {safe_repr(exc, 200)}"
            if use:
                self.check()
            raise
        elapsed = time.perf_counter_ns() - t0
        with self.lock:
            route.calls += 1
            route.latencies.append(elapsed)
        if use and route.calls >= self.min_calls:
            self.check()
        return result

    def check(self) -> None:
        variant, baseline = self.routes["variant"], self.routes["baseline"]
        if variant.calls < self.min_calls or self.state != "running":
            return
        v_rate = variant.errors / variant.calls
        b_rate = baseline.errors / baseline.calls if baseline.calls else 0.0
        if v_rate - b_rate > self.threshold:
            self.roll_back(f"the variant's error rate {v_rate:.1%} exceeds the baseline's "
                           f"{b_rate:.1%} by more than {self.threshold:.1%} "
                           f"({variant.errors} errors in {variant.calls} calls)")

    def roll_back(self, reason: str) -> None:
        with self.lock:
            if self.state != "running":
                return
            self.state = "rolledBack"
            self.reason = reason
            self.ended = time.time()
        self.patch.restore()
        _audit({"action": "canaryRollback", "canary": self.id, "target": self.spec,
                "reason": reason})
        try:
            from .. import notify

            notify(NOTIFICATION, {"event": "rolledBack", "canary": self.status()})
        except Exception:  # noqa: BLE001, S110  (the program must not notice)
            pass

    # -- control -------------------------------------------------------------------------------

    def set_share(self, share: float) -> None:
        with self.lock:
            self.share = share
            self.history.append({"time": time.time(), "share": share})

    def stop(self) -> None:
        with self.lock:
            if self.state == "running":
                self.state = "stopped"
                self.ended = time.time()
        self.patch.restore()

    def status(self) -> dict[str, Any]:
        with self.lock:
            routes = {k: r.report() for k, r in self.routes.items()}
            b_lat = list(self.routes["baseline"].latencies)
            v_lat = list(self.routes["variant"].latencies)
        total = routes["baseline"]["calls"] + routes["variant"]["calls"]
        out: dict[str, Any] = {
            "id": self.id, "target": self.spec, "variant": self.name, "state": self.state,
            "share": self.share, "sticky": self.sticky, "threshold": self.threshold,
            "minCalls": self.min_calls, "started": self.started, "ended": self.ended,
            "routes": routes, "calls": total,
            "observedShare": routes["variant"]["calls"] / total if total else 0.0,
            "history": list(self.history),
        }
        if self.reason:
            out["reason"] = self.reason
        if len(b_lat) >= 2 and len(v_lat) >= 2:
            out["latency"] = stats.compare(v_lat, b_lat)
        return out


def _bucket(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    key = (args, tuple(sorted(kwargs.items()))) if kwargs else args
    try:
        value = hash(key)
    except TypeError:
        value = zlib.crc32(safe_repr(key, 2000).encode("utf-8", "replace"))
    # spread the bits (hash(small int) is the int itself)
    value = (value * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    return (value >> 32) % BUCKETS


def _router(canary_ref: list[Canary], baseline: Any) -> Any:
    import functools

    @functools.wraps(baseline)
    def router(*args: Any, **kwargs: Any) -> Any:
        return canary_ref[0].route(args, kwargs)

    router.__devsandbox_canary__ = canary_ref  # type: ignore[attr-defined]
    return router


def _audit(entry: dict[str, Any]) -> None:
    try:
        from ..live import audit

        audit.write(entry)
    except Exception:  # noqa: BLE001, S110
        pass


# -- agent methods ------------------------------------------------------------------------------------


def _share(params: dict[str, Any]) -> float:
    share = params.get("share", 0.1)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise RpcError(ERR_INVALID, "'share' must be a number between 0 and 1")
    return float(share)


def _find(params: dict[str, Any]) -> Canary:
    ident = params.get("id") or params.get("canary")
    with _lock:
        if ident is None and len(CANARIES) == 1:
            return next(iter(CANARIES.values()))
        canary = CANARIES.get(str(ident))
    if canary is None:
        raise RpcError(ERR_INVALID, f"no canary {ident!r} (running: {', '.join(CANARIES) or 'none'})")
    return canary


def start(params: dict[str, Any]) -> dict[str, Any]:
    from ..live.clients import client_name
    from . import host

    spec = params.get("target")
    variant = params.get("variant")
    if isinstance(variant, str):
        variant = {"name": "variant", "source": variant}
    if not isinstance(spec, str) or not isinstance(variant, dict) or \
            not isinstance(variant.get("source"), str):
        raise RpcError(ERR_INVALID, "canaryStart needs 'target' and 'variant' {name, source}")
    share = _share(params)
    threshold = params.get("threshold", 0.05)
    min_calls = params.get("minCalls", 20)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or \
            not 0 <= threshold <= 1:
        raise RpcError(ERR_INVALID, "'threshold' must be a number between 0 and 1")
    if isinstance(min_calls, bool) or not isinstance(min_calls, int) or min_calls < 1:
        raise RpcError(ERR_INVALID, "'minCalls' must be a positive integer")
    with _lock:
        if any(c.spec == spec and c.state == "running" for c in CANARIES.values()):
            raise RpcError(ERR_INVALID, f"a canary already runs on {spec}; stop it first")
    try:
        target = targets.resolve(spec, params.get("file"))
    except targets.TargetError as exc:
        raise RpcError(ERR_INVALID, str(exc)) from None
    if getattr(target.function, "__devsandbox_canary__", None) is not None:
        raise RpcError(ERR_INVALID, f"{spec} is already routed by a canary")
    try:
        host.scanner_for(_safety(params))(variant["source"], "canary variant")
        fn = targets.compile_function(variant["source"], target, "canary")
    except host.Refused as exc:
        raise RpcError(-32010, str(exc)) from None
    except targets.CompileError as exc:
        where = f" (line {exc.line})" if exc.line else ""
        raise RpcError(ERR_INVALID, f"the variant does not compile: {exc.kind}: {exc}{where}"
                       ) from None
    ref: list[Canary] = []
    router = targets.as_attribute(target, _router(ref, target.function))
    patch = targets.patch_for(spec, lambda t: router, params.get("file"))
    canary = Canary(spec, str(variant.get("name") or "variant"), patch, target.function, fn,
                    share, params.get("sticky") is True, float(threshold), min_calls)
    ref.append(canary)
    with _lock:
        CANARIES[canary.id] = canary
    patch.apply()
    _audit({"action": "canaryStart", "client": client_name(params), "canary": canary.id,
            "target": spec, "share": share, "code": variant["source"][:2000]})
    return canary.status()


def _safety(params: dict[str, Any]) -> dict[str, Any]:
    from ..live.clients import level_of

    return {"level": level_of(params), "force": params.get("force") is True}


def set_share(params: dict[str, Any]) -> dict[str, Any]:
    canary = _find(params)
    if canary.state != "running":
        raise RpcError(ERR_INVALID, f"{canary.id} is {canary.state}: its share cannot change")
    canary.set_share(_share(params))
    return canary.status()


def status(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("id") or params.get("canary") or len(CANARIES) == 1:
        return _find(params).status()
    with _lock:
        canaries = list(CANARIES.values())
    return {"canaries": [c.status() for c in canaries]}


def stop(params: dict[str, Any]) -> dict[str, Any]:
    canary = _find(params)
    canary.stop()
    with _lock:
        CANARIES.pop(canary.id, None)
    _audit({"action": "canaryStop", "canary": canary.id, "target": canary.spec})
    return canary.status()
