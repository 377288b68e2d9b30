"""Running an experiment job: compile the variants, decode the inputs, measure, analyse.

A job (JSON object):

    target        "module:qualname"
    file          the module's file (needed for a program's __main__, or a script
                  that is not importable by name)
    variants      [{"name", "source"}]
    inputs        [{"id", ...}] (see inputs.py)
    injections    [{"kind": "mock"|"stub"|"spy", "target", ...}] (see inject.py)
    isolation     "subprocess" (default) or "inprocess"
    repeat, minRounds, budget, callTimeout, copyInputs, memory   (see measure.Settings)
    timeout       seconds per worker process (subprocess isolation)
    cpuSeconds, memoryMb   resource limits of each worker process
    sysPath, cwd  where the worker finds the program's modules
    safety        {"level", "force"}: the security scanner's decision for variant code

``run_local`` measures here, all variants interleaved with the baseline.
``run_job`` with subprocess isolation starts one worker process per variant
(each runs ``run_local`` on the baseline and that variant, under resource
limits and a timeout) and merges their reports; a worker that crashes, runs out
of time or hits a limit is reported for its variant only.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from . import inject, inputs, measure, stats
from . import target as targets

DEFAULT_TIMEOUT = 120.0
DEFAULT_CPU_SECONDS = 120
DEFAULT_MEMORY_MB = 2048
# adapters/devsandbox/agent/experiments/host.py -> adapters/
ADAPTERS_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


class Refused(Exception):
    """The security scanner refused a variant's code."""


Scan = Callable[[str, str], None]


def scanner_for(safety: dict[str, Any] | None) -> Scan:
    """A check of variant code at the job's safety level (default normal)."""
    from ..live import scanner

    safety = safety or {}
    level = safety.get("level") if safety.get("level") in ("strict", "normal",
                                                             "permissive") else "normal"
    force = safety.get("force") is True

    def check(source: str, what: str) -> None:
        report = scanner.scan(source)
        if "syntaxError" in report:
            return  # compiling reports it
        decision = scanner.decide(report, str(level), force)
        if not decision["allowed"]:
            raise Refused(f"refused by the {level} safety level (risk {report['risk']}): "
                          f"{scanner.summary(report)}; {decision['reason']}")

    return check


def _no_scan(source: str, what: str) -> None:
    return None


def _compile(job: dict[str, Any], target: targets.Target, scan: Scan
             ) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """(compiled (name, fn)), and the entries of variants that failed."""
    compiled, failed = [], []
    for index, variant in enumerate(job.get("variants") or []):
        name = str(variant.get("name") or f"variant{index + 1}")
        source = variant.get("source")
        if not isinstance(source, str):
            failed.append({"name": name, "status": "compile-error",
                           "error": {"type": "DefinitionError", "message": "no source"}})
            continue
        try:
            scan(source, "experiment variant")
            compiled.append((name, targets.compile_function(source, target, name)))
        except Refused as exc:
            failed.append({"name": name, "status": "refused",
                           "error": {"type": "Refused", "message": str(exc)}})
        except targets.CompileError as exc:
            failed.append({"name": name, "status": "compile-error", "error": exc.to_json()})
    return compiled, failed


def _decode_inputs(job: dict[str, Any], target: targets.Target, scan: Scan,
                   kept: list[dict[str, Any]] | None = None
                   ) -> tuple[list[str], list[tuple[tuple[Any, ...], dict[str, Any]]],
                              list[dict[str, Any]]]:
    """(ids, decoded calls, skipped with reasons); ``kept`` collects the usable items."""
    ids, calls, skipped = [], [], []
    for index, item in enumerate(job.get("inputs") or []):
        ident = str(item.get("id", index + 1)) if isinstance(item, dict) else str(index + 1)
        if not isinstance(item, dict):
            skipped.append({"input": ident, "reason": "not an input object"})
            continue
        try:
            calls.append(inputs.decode(item, target, lambda text: scan(text, "input")))
            ids.append(ident)
            if kept is not None:
                kept.append(dict(item, id=ident))
        except inputs.InputError as exc:
            skipped.append({"input": ident, "reason": str(exc)})
        except Refused as exc:
            skipped.append({"input": ident, "reason": str(exc)})
    return ids, calls, skipped


def _file_for(job: dict[str, Any]) -> Callable[[str], str | None]:
    main = job.get("target", "").partition(":")[0]

    def file_for(spec: str) -> str | None:
        return job.get("file") if spec.partition(":")[0] == main else None

    return file_for


def run_local(job: dict[str, Any], scan: Scan | None = None) -> dict[str, Any]:
    """Measure the baseline and every variant in this process."""
    scan = scan or scanner_for(job.get("safety"))
    try:
        target = targets.resolve(str(job.get("target") or ""), job.get("file"))
    except targets.TargetError as exc:
        return {"status": "error", "error": {"type": "TargetError", "message": str(exc)}}
    ids, calls, skipped = _decode_inputs(job, target, scan)
    base: dict[str, Any] = {"status": "ok", "target": target.spec, "file": target.file,
            "inputs": {"ids": ids, "count": len(ids), "skipped": skipped}}
    if not calls:
        base.update(status="error", error={"type": "NoInputs", "message": "no usable inputs"
                    + (f" ({len(skipped)} could not be reconstructed)" if skipped else "")})
        base["variants"] = _compile(job, target, scan)[1]
        return base
    settings = measure.Settings.from_job(job)
    started = time.perf_counter()
    try:
        with inject.injected(list(job.get("injections") or []), _file_for(job)) as spies:
            # compiled now: the variants' globals (a copy of the module's) see the injections
            compiled, failed = _compile(job, target, scan)
            arms = [measure.Arm("baseline", target.function)]
            arms += [measure.Arm(name, fn) for name, fn in compiled]
            raw = measure.measure(arms, calls, settings)
            spy_reports = [spy.report() for spy in spies.values()]
    except inject.InjectionError as exc:
        base.update(status="error", error={"type": "InjectionError", "message": str(exc)})
        return base
    baseline = raw["arms"][0]
    variants: list[dict[str, Any]] = []
    for arm, report in zip(arms[1:], raw["arms"][1:]):
        diffs = measure.differences(arms[0], arm, ids)
        report.update(status="ok", correct=not diffs, differences=diffs,
                      comparison=stats.compare(report["samples"], baseline["samples"]),
                      baselineSamples=baseline["samples"])
        variants.append(report)
    by_name = {v["name"]: v for v in variants + failed}
    ordered = [by_name[str(v.get("name") or f"variant{i + 1}")]
               for i, v in enumerate(job.get("variants") or [])
               if str(v.get("name") or f"variant{i + 1}") in by_name]
    base.update(baseline=baseline, variants=ordered, rounds=raw["rounds"], spies=spy_reports,
                seconds=round(time.perf_counter() - started, 3),
                environment=_environment("inprocess"))
    return base


def _environment(isolation: str) -> dict[str, Any]:
    return {"python": sys.version.split()[0], "implementation": sys.implementation.name,
            "pid": os.getpid(), "isolation": isolation,
            "overheadNs": round(measure.overhead(500), 1)}


# -- subprocess isolation ---------------------------------------------------------------------------


def worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSANDBOX_")}
    env["PYTHONPATH"] = ADAPTERS_ROOT
    env.pop("PYTHONSTARTUP", None)
    return env


def _worker_job(job: dict[str, Any], variants: list[dict[str, Any]]) -> dict[str, Any]:
    sub = dict(job, variants=variants, isolation="inprocess", scanned=True)
    sub.setdefault("sysPath", [p for p in sys.path if isinstance(p, str)])
    sub.setdefault("cwd", os.getcwd())
    return sub


def run_worker(job: dict[str, Any], variants: list[dict[str, Any]]) -> dict[str, Any]:
    """One worker process measuring the baseline and ``variants``; its report, or
    ``{"status": "crashed"|"timeout", "error"}``."""
    timeout = float(job.get("timeout") or DEFAULT_TIMEOUT)
    payload = json.dumps(_worker_job(job, variants))
    cmd = [str(job.get("python") or sys.executable), "-m", "devsandbox.agent.experiments",
           "worker"]
    with _not_followed_by_debuggers():
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=worker_env(),
                                cwd=str(job.get("cwd") or os.getcwd()), start_new_session=True)
    try:
        out, err = proc.communicate(payload.encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.communicate()
        return {"status": "timeout", "error": {
            "type": "Timeout", "message": f"the worker ran longer than {timeout:g} s and was "
            "stopped"}}
    text = out.decode("utf-8", "replace").strip()
    if proc.returncode == 0 and text:
        try:
            answer = json.loads(text.splitlines()[-1])
            if isinstance(answer, dict):
                return answer
        except ValueError:
            pass
    return {"status": "crashed", "error": _crash(proc.returncode, err)}


def _not_followed_by_debuggers() -> contextlib.AbstractContextManager[Any]:
    """In a program debugpy runs with subProcess on, its own opt-out: the worker is not
    debugged (no child session in the editor, no tracing in the measurements)."""
    monkey = sys.modules.get("_pydev_bundle.pydev_monkey")
    skip = getattr(monkey, "skip_subprocess_arg_patch", None)
    if callable(skip):
        try:
            return skip()  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001, S110  (another pydevd: just start the worker)
            pass
    return contextlib.nullcontext()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _crash(code: int, err: bytes) -> dict[str, Any]:
    tail = err.decode("utf-8", "replace").strip().splitlines()[-5:]
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        why = f"the worker was killed by {name}"
        if name == "SIGXCPU":
            why += " (the CPU time limit)"
    else:
        why = f"the worker exited with status {code}"
    return {"type": "Crashed", "message": why, "stderr": tail}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run a whole experiment job; analysis and recommendation included."""
    _name_variants(job)
    if job.get("isolation") == "inprocess":
        result = run_local(job)
        result.setdefault("environment", {})["isolation"] = "inprocess"
        return finish(result)
    scan = scanner_for(job.get("safety"))
    try:
        target = targets.resolve(str(job.get("target") or ""), job.get("file"))
    except targets.TargetError as exc:
        return finish({"status": "error", "error": {"type": "TargetError", "message": str(exc)}})
    compiled, failed = _compile(job, target, scan)
    # inputs are decoded here first: expressions are scanned here, once; the workers get the
    # usable inputs only
    usable: list[dict[str, Any]] = []
    _ids, calls, skipped = _decode_inputs(job, target, scan, usable)
    del compiled
    if not calls:
        return finish({"status": "error", "target": target.spec, "file": target.file,
                       "inputs": {"ids": [], "count": 0, "skipped": skipped},
                       "variants": failed, "error": {"type": "NoInputs", "message":
                       f"no usable inputs ({len(skipped)} could not be reconstructed)"}})
    job = dict(job, inputs=usable)
    failed_names = {f["name"] for f in failed}
    wanted = [v for v in job.get("variants") or [] if v["name"] not in failed_names]
    started = time.perf_counter()
    reports = []
    for variant in wanted or [None]:
        reports.append((variant, run_worker(job, [variant] if variant else [])))
    merged: dict[str, Any] = {"status": "ok", "target": target.spec, "file": target.file}
    entries: dict[str, dict[str, Any]] = {f["name"]: f for f in failed}
    for variant, report in reports:
        if report.get("status") in ("crashed", "timeout"):
            if variant is None:
                merged.update(status="error", error=report["error"])
            else:
                entries[variant["name"]] = {"name": variant["name"], "status": report["status"],
                                            "error": report["error"]}
            continue
        if report.get("status") == "error":
            merged.update(status="error", error=report.get("error"))
            merged.setdefault("inputs", report.get("inputs"))
            continue
        for key in ("baseline", "inputs", "rounds", "environment", "spies"):
            if key not in merged and key in report:
                merged[key] = report[key]
        for entry in report.get("variants") or []:
            entries[entry["name"]] = entry
    if "inputs" not in merged:
        merged["inputs"] = {"ids": _ids, "count": len(calls), "skipped": []}
    merged["inputs"]["skipped"] = skipped + list(merged["inputs"].get("skipped") or [])
    merged["variants"] = [entries[v["name"]] for v in job.get("variants") or []
                          if v["name"] in entries]
    merged.setdefault("environment", _environment("subprocess"))
    merged["environment"]["isolation"] = "subprocess"
    merged["seconds"] = round(time.perf_counter() - started, 3)
    if merged.get("status") == "error" and merged.get("baseline"):
        merged["status"] = "ok"
    return finish(merged)


def _name_variants(job: dict[str, Any]) -> None:
    variants = job.get("variants") or []
    if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
        raise ValueError("'variants' must be a list of {name, source} objects")
    for i, v in enumerate(variants):
        v["name"] = str(v.get("name") or f"variant{i + 1}")


def verdict(variant: dict[str, Any]) -> str:
    """One word per variant: its status when it did not run; "raises" when it raised on every
    input the baseline answered; "incorrect" when results differ; else the timing verdict."""
    if variant.get("status") != "ok":
        return str(variant.get("status"))
    diffs = variant.get("differences") or []
    if diffs and all((d.get("variant") or {}).get("status") == "raised" for d in diffs) and \
            len(diffs) == sum(1 for o in variant.get("outcomes") or []
                              if o.get("status") == "raised"):
        return "raises"
    if variant.get("correct") is not True:
        return "incorrect"
    return str((variant.get("comparison") or {}).get("verdict", stats.SAME))


def finish(result: dict[str, Any]) -> dict[str, Any]:
    for variant in result.get("variants") or []:
        variant["verdict"] = verdict(variant)
    if result.get("status") == "ok":
        result["recommendation"] = stats.recommend(result.get("variants") or [])
        winner = result["recommendation"].get("winner")
        for variant in result.get("variants") or []:
            if variant.get("name") == winner:
                variant["winner"] = True
    return finite(result)  # type: ignore[no-any-return]


def finite(value: Any) -> Any:
    """JSON without NaN or infinities (None instead)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


# -- the worker process -------------------------------------------------------------------------------


def limit_resources(job: dict[str, Any]) -> None:
    try:
        import resource
    except ImportError:
        return
    cpu = int(job.get("cpuSeconds") or DEFAULT_CPU_SECONDS)
    memory_mb = int(job.get("memoryMb") or DEFAULT_MEMORY_MB)
    for which, soft, hard in ((resource.RLIMIT_CPU, cpu, cpu + 5),
                              (resource.RLIMIT_AS, memory_mb << 20, memory_mb << 20)):
        try:
            _old_soft, old_hard = resource.getrlimit(which)
            if old_hard != resource.RLIM_INFINITY:
                hard = min(hard, old_hard)
                soft = min(soft, hard)
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass


def worker_main(job: dict[str, Any]) -> dict[str, Any]:
    """In a worker process: limits, the program's sys.path and cwd, then run_local."""
    limit_resources(job)
    for path in reversed([p for p in job.get("sysPath") or [] if isinstance(p, str)]):
        if path not in sys.path:
            sys.path.insert(0, path)
    if job.get("cwd"):
        try:
            os.chdir(str(job["cwd"]))
        except OSError:
            pass
    scan = _no_scan if job.get("scanned") else None
    return finite(run_local(job, scan))  # type: ignore[no-any-return]
