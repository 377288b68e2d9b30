"""The recorder's overhead on CPU-bound third-party code, whole process as the user feels it.

Workloads (``--suite``):
  pyperformance  (default) benchmarks of pyperformance (PyPI), run as plain scripts through a
                 stand-in for pyperf's Runner (bench/recorder_pyperf/pyperf: runs the benchmark
                 function a fixed number of times, once); the package is taken from the
                 interpreter if installed, else downloaded once with pip into a cache directory
  own            small programs under bench/recorder_workloads/

For each interpreter (3.11 and 3.13 by default) and workload, the median wall time of several
interleaved runs (process start to exit; for debug sessions, DAP server start to the program's
end) of:

  plain      python SCRIPT
  noop       the floor of any line recorder: a C trace function doing nothing
             (PyEval_SetTrace on 3.11; sys.monitoring LINE and PY_START callbacks on 3.12+)
  record     python -m devsandbox.recorder -- SCRIPT (values captured, default options)
  whole      the same writing each changed container whole (item_diffs false)
  debug      `devsandbox dap` launch, no breakpoints: debugpy plus the agent
  debug+rec  the same with "devsandbox": {"record": true}

and prints record/plain, record/noop, whole/plain, debug+rec/debug and compressed bytes per
line event, with geometric means.  CPU seconds (user+sys) of the non-debug runs are printed too:
on a busy machine they are steadier than wall time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

HELP = "recorder overhead (pyperformance): vs plain, vs a no-op trace hook, inside a debug session"
HERE = Path(__file__).parent
ROOT = HERE.parent
OWN_WORKLOADS = HERE / "recorder_workloads"
STANDIN = HERE / "recorder_pyperf"
PYTHONS = ["/tmp/venv311/bin/python", "/tmp/venv313/bin/python"]
PYPERFORMANCE = "pyperformance==1.14.0"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "devsandbox" / "bench"

# pyperformance benchmark -> loops (plain run about 0.5-1 s on this machine, CPython 3.11)
PYPERFORMANCE_LOOPS = {
    "chaos": 3, "deltablue": 8, "fannkuch": 1, "float": 5, "go": 3, "nbody": 3, "nqueens": 4,
    "raytrace": 1, "richards": 6, "spectral_norm": 3,
}
MODES = ("plain", "noop", "record", "whole", "debug", "debug+rec")
RUN_TIMEOUT = 900.0

NOOP = """
import runpy, sys
from devsandbox import _tracer
sys.argv = sys.argv[1:]
if _tracer.MODE == "tee":
    _tracer.install_noop_trace()
else:
    m = sys.monitoring
    m.use_tool_id(4, "noop")
    m.register_callback(4, m.events.LINE, _tracer.mon_noop)
    m.register_callback(4, m.events.PY_START, _tracer.mon_noop)
    m.set_events(4, m.events.LINE | m.events.PY_START)
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--python", action="append", help="interpreter(s) (default: 3.11, 3.13 venvs)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per mode (median)")
    parser.add_argument("--suite", choices=("pyperformance", "own"), default="pyperformance")
    parser.add_argument("--workload", action="append", help="only these workloads")
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"comma-separated subset of {','.join(MODES)}")
    parser.add_argument("--loops-scale", type=float, default=1.0,
                        help="multiply every pyperformance workload's loop count")
    parser.add_argument("--quick", action="store_true",
                        help="one run, two workloads, loops cut: a smoke test")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


# ---- workloads ---------------------------------------------------------------------------


def _pyperformance_benchmarks() -> Path:
    """pyperformance's data-files/benchmarks directory (installed, or downloaded once)."""
    try:
        import pyperformance  # type: ignore[import-not-found]

        found = Path(pyperformance.__file__).parent / "data-files" / "benchmarks"
        if found.is_dir():
            return found
    except ImportError:
        pass
    target = CACHE / PYPERFORMANCE.replace("==", "-")
    bench_dir = target / "pyperformance" / "data-files" / "benchmarks"
    if bench_dir.is_dir():
        return bench_dir
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"downloading {PYPERFORMANCE} into {target} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "-d", tmp, PYPERFORMANCE], check=True)
        wheel = next(Path(tmp).glob("pyperformance-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.namelist() if m.startswith("pyperformance/data-files/")]
            zf.extractall(target, members)
    return bench_dir


def workloads(args: argparse.Namespace) -> list[tuple[str, Path, int]]:
    """(name, script, loops)."""
    if args.suite == "own":
        found = [(p.stem, p, 1) for p in sorted(OWN_WORKLOADS.glob("*.py"))]
    else:
        root = _pyperformance_benchmarks()
        scale = 0.34 if args.quick else args.loops_scale
        found = [(name, root / f"bm_{name}" / "run_benchmark.py", max(1, round(loops * scale)))
                 for name, loops in PYPERFORMANCE_LOOPS.items()]
    if args.workload:
        unknown = set(args.workload) - {name for name, _, _ in found}
        if unknown:
            raise SystemExit(f"unknown workload(s): {', '.join(sorted(unknown))}")
        found = [w for w in found if w[0] in args.workload]
    elif args.quick:
        found = found[:2]
    return found


# ---- one run -----------------------------------------------------------------------------


def _env(loops: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSANDBOX_")}
    env["PYTHONPATH"] = os.pathsep.join([str(STANDIN), str(ROOT / "adapters"),
                                         str(ROOT / "server")])
    env["DEVSANDBOX_BENCH_LOOPS"] = str(loops)
    return env


def _time_process(cmd: list[str], loops: int, cwd: str) -> tuple[float, float]:
    """(wall, cpu) seconds of one process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(loops), cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _time_debug(python: str, script: Path, loops: int, record: bool, out_dir: str) -> float:
    """DAP server start to the program's end, through `devsandbox dap` (launch, no breakpoints)."""
    sys.path[:0] = [p for p in (str(ROOT / "server"), str(ROOT / "adapters")) if p not in sys.path]
    from devsandbox.dapclient import DapClient

    env = _env(loops)
    config: dict[str, Any] = {
        "program": str(script), "cwd": out_dir, "python": python, "console": "internalConsole",
        "justMyCode": True, "env": {k: env[k] for k in ("PYTHONPATH", "DEVSANDBOX_BENCH_LOOPS")},
        "devsandbox": {"record": record},
    }
    with tempfile.TemporaryFile("w+") as stderr:
        t0 = time.perf_counter()
        client = DapClient([python, "-m", "devsandbox", "dap"], env=env, stderr=stderr)
        try:
            client.start("launch", config, timeout=120)
            client.event("terminated", timeout=RUN_TIMEOUT)
            wall = time.perf_counter() - t0
            exited = client.events("exited")
            output = client.output()
        finally:
            try:
                client.request("disconnect", {}, timeout=5, check=False)
            except Exception:  # noqa: BLE001 - the server may be gone already
                pass
            client.close()
    if exited and exited[0]["body"].get("exitCode") not in (0, None):
        raise RuntimeError(f"{script} exited {exited[0]['body']['exitCode']} under devsandbox dap"
                           f":\n{output[-3000:]}")
    return wall


def _bytes_per_line(python: str, path: str) -> tuple[float, int]:
    """Compressed event bytes per line event: frame headers and the end record only."""
    sys.path[:0] = [p for p in (str(ROOT / "server"), str(ROOT / "adapters")) if p not in sys.path]
    from devsandbox.recorder import format as fmt
    from devsandbox.recording.reader import Recording

    with Recording(path) as rec:
        stored = sum(f.stored for f in rec.frames if f.kind == fmt.K.EVENTS)
        lines = rec.end.get("line_events")
        events = int(rec.end.get("events") or rec.event_count)
    if lines is None:  # an older recorder: decode the events (slow)
        out = subprocess.run([python, "-m", "devsandbox", "info", "--json", path],
                             env=_env(1), capture_output=True, text=True, check=True)
        lines = json.loads(out.stdout)["kinds"].get("line", 0)
    return stored / max(1, int(lines)), events


# ---- the benchmark -----------------------------------------------------------------------


def _measure(python: str, name: str, script: Path, loops: int, modes: list[str], runs: int,
             tmp: str) -> dict[str, Any]:
    noop = os.path.join(tmp, "noop.py")
    rec = os.path.join(tmp, f"{name}.dsrec")
    whole = os.path.join(tmp, f"{name}-whole.dsrec")
    commands = {
        "plain": [python, str(script)],
        "noop": [python, noop, str(script)],
        "record": [python, "-m", "devsandbox.recorder", "--options", json.dumps({"out": rec}),
                   "--", str(script)],
        "whole": [python, "-m", "devsandbox.recorder", "--options",
                  json.dumps({"out": whole, "item_diffs": False}), "--", str(script)],
    }
    failed: list[str] = []
    wall: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes if m in commands}
    for _ in range(runs):  # interleaved, so that load changes hit every mode alike
        for mode in modes:
            try:
                if mode in commands:
                    w, c = _time_process(commands[mode], loops, str(script.parent))
                    wall[mode].append(w)
                    cpu[mode].append(c)
                else:
                    wall[mode].append(_time_debug(python, script, loops, mode == "debug+rec", tmp))
            except Exception as exc:  # noqa: BLE001 - one failed run must not end the benchmark
                print(f"  {name} {mode} failed: {exc}", file=sys.stderr, flush=True)
                failed.append(mode)
    result: dict[str, Any] = {
        "loops": loops,
        "wall": {m: statistics.median(v) for m, v in wall.items() if v},
        "cpu": {m: statistics.median(v) for m, v in cpu.items() if v},
        "spread": {m: (max(v) - min(v)) / statistics.median(v) for m, v in wall.items() if v},
        "failed": failed,
    }
    if "record" in modes and os.path.exists(rec):
        result["bytes_per_line"], result["events"] = _bytes_per_line(python, rec)
    if "whole" in modes and os.path.exists(whole):
        result["bytes_per_line_whole"], _ = _bytes_per_line(python, whole)
    return result


RATIOS = (("record", "plain"), ("record", "noop"), ("whole", "plain"), ("whole", "noop"),
          ("debug+rec", "debug"), ("debug", "plain"))


def _ratios(res: dict[str, Any], kind: str) -> dict[str, float]:
    t = res[kind]
    return {f"{a}/{b}": t[a] / t[b] for a, b in RATIOS if a in t and b in t}


def _geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else float("nan")


def _report(python: str, version: str, results: dict[str, dict[str, Any]]) -> str:
    lines = [f"\n{python} ({version}): median wall seconds, whole process"]
    names = list(results)
    modes = [m for m in MODES if any(m in r["wall"] for r in results.values())]
    ratio_names = [f"{a}/{b}" for a, b in RATIOS if a in modes and b in modes]
    head = f"  {'workload':<14}" + "".join(f"{m:>10}" for m in modes)
    head += "".join(f"{r:>17}" for r in ratio_names) + f"{'B/line':>8}{'B/l wh':>8}"
    lines.append(head)
    for name in names:
        r = results[name]
        row = f"  {name:<14}" + "".join(f"{r['wall'].get(m, float('nan')):>10.3f}" for m in modes)
        rat = _ratios(r, "wall")
        row += "".join(f"{rat.get(k, float('nan')):>16.2f}x" for k in ratio_names)
        row += f"{r.get('bytes_per_line', float('nan')):>8.2f}"
        row += f"{r.get('bytes_per_line_whole', float('nan')):>8.2f}"
        lines.append(row)
    gm = {k: _geomean([_ratios(results[n], "wall")[k] for n in names
                       if k in _ratios(results[n], "wall")]) for k in ratio_names}
    lines.append(f"  {'geomean':<14}" + " " * (10 * len(modes))
                 + "".join(f"{gm[k]:>16.2f}x" for k in ratio_names))
    cpu_ratios = [k for k in ratio_names if "debug" not in k]
    if cpu_ratios:
        gc = {k: _geomean([_ratios(results[n], "cpu")[k] for n in names
                           if k in _ratios(results[n], "cpu")]) for k in cpu_ratios}
        lines.append("  geomean of CPU-time ratios: " + ", ".join(
            f"{k} {v:.2f}x" for k, v in gc.items()))
    noisy = [n for n in names if max(results[n]["spread"].values(), default=0) > 0.25]
    if noisy:
        lines.append(f"  note: runs varied by more than 25% on {', '.join(noisy)} (a busy "
                     "machine?): compare the CPU-time ratios")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    pythons = [p for p in (args.python or PYTHONS) if os.path.exists(p)]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = set(modes) - set(MODES)
    if bad or "plain" not in modes:
        raise SystemExit(f"--modes: choose from {', '.join(MODES)} (plain is required)")
    runs = 1 if args.quick else args.runs
    work = workloads(args)
    everything: dict[str, Any] = {"benchmark": "recorder", "suite": args.suite, "runs": runs,
                                  "pythons": {}}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "noop.py").write_text(NOOP)
        for python in pythons:
            version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                                     capture_output=True, text=True, check=True).stdout.strip()
            results = {}
            for name, script, loops in work:
                if not args.json:
                    print(f"  {version} {name} ...", file=sys.stderr, flush=True)
                results[name] = _measure(python, name, script, loops, modes, runs, tmp)
            everything["pythons"][python] = {"version": version, "workloads": results}
            if not args.json:
                print(_report(python, version, results), flush=True)
    if args.json:
        print(json.dumps(everything, indent=1))
    return 0
