"""Time travel on a large recording, through `devsandbox dap` as an editor uses it.

Records a program of at least 1,000,000 line events (`devsandbox record`),
replays it post-mortem (``"devsandbox": {"replay": FILE}``) and measures,
request to answer (for motions: to the stopped event):

  open          launch to the first stop (reading the recording and its summaries)
  stepBack      p50/p95 over sequences of stepBack from random points
  reverseContinue  from the end to a breakpoint hit only at the start (whole recording),
                and with no breakpoint (to the start)
  variables     p50/p95 of scopes + variables of a past frame (the caller) at random points
  valueHistory  of a loop variable over the whole recording (every change)
  memory        the server's resident memory (VmRSS and its peak, VmHWM) added by the
                replay, against the recording's uncompressed event bytes and the size of
                the same recording as JSON lines (`devsandbox export`); the added figure
                includes what any replay costs (modules imported for it, one chunk's
                working set), so the same measurements also run on a tiny recording of
                the same program (one round) and the difference, the memory that grows
                with the recording, is reported next to it, against the difference in
                uncompressed event bytes; resident memory can end below its baseline
                (the replay returns to the system the heap pages that the server's
                start-up freed), so the same requests also run once more with the server
                under tracemalloc (bench/tt_server.py): what Python's allocators hand out
                for the replay (objects, buffers, the C scanner's arrays), held at the end
                and at its peak

Targets (issue #4): stepBack p95 < 20 ms, reverseContinue across the whole recording
< 300 ms, variables p95 < 20 ms, valueHistory over the whole recording < 500 ms,
server memory < 10% of the uncompressed recording.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HELP = "time travel latencies and memory on a recording of 1,000,000+ line events"
ROOT = Path(__file__).resolve().parent.parent

WORKLOAD = '''
class Acc:
    def __init__(self):
        self.total = 0
        self.hist = []

    def add(self, v):
        self.total += v
        if len(self.hist) < 50:
            self.hist.append(v)
        return self.total


def work(n):
    acc = Acc()
    s = 0
    for i in range(n):
        x = i % 7
        if x == 3:
            s += acc.add(i)
        else:
            s -= x
    return s


def main(rounds):
    started = True  # only once, at the start: the reverseContinue target
    r = 0
    for k in range(rounds):
        r += work(6000)
    print(r)


import sys
main(int(sys.argv[1]))
'''
LINES_PER_ROUND = 26_600  # line events per round of the workload (measured)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=1_000_000, help="line events to record")
    parser.add_argument("--samples", type=int, default=40, help="random points per measurement")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="a small recording and few samples (smoke test)")
    parser.add_argument("--no-export-size", action="store_true",
                        help="skip measuring the JSON-lines size (slow on big recordings)")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "server"), str(ROOT / "adapters")])
    return env


def _rss(pid: int) -> tuple[int, int]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return (int(fields.get("VmRSS", "0 kB").split()[0]) * 1024,
            int(fields.get("VmHWM", "0 kB").split()[0]) * 1024)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _timed(client: Any, command: str, args: dict[str, Any], stop: bool) -> float:
    start_mark = client.mark()
    t0 = time.perf_counter()
    client.request(command, args, timeout=120)
    if stop:
        client.event("stopped", timeout=120, start=start_mark)
    return (time.perf_counter() - t0) * 1000


def record(tmp: Path, events: int) -> Path:
    program = tmp / "tt_workload.py"
    program.write_text(WORKLOAD)
    rounds = max(1, -(-events // LINES_PER_ROUND))
    out = tmp / "workload.dsrec"
    subprocess.run([sys.executable, "-m", "devsandbox", "record", "--out", str(out), "--",
                    str(program), str(rounds)], env=_env(), cwd=tmp, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return out


def measure(path: Path, samples: int, export_size: bool, traced: str | None = None
            ) -> dict[str, Any]:
    """Latencies and resident memory; with `traced` (a file name), the server runs under
    tracemalloc (bench/tt_server.py) and result["traced"] is what it allocated."""
    sys.path[:0] = [str(ROOT / "server"), str(ROOT / "adapters")]
    from devsandbox.dapclient import DapClient
    from devsandbox.recording.reader import Recording
    from devsandbox.recording.timeline import Timeline

    with Recording(str(path)) as rec:
        raw = sum(ch.raw for ch in rec._chunks)
        events = rec.event_count
        program = rec.meta.get("program")
        lines = sum(sum(c.values()) for s in Timeline(rec).summaries() for c in s.lines.values())
    env = _env()
    argv = [sys.executable, "-m", "devsandbox", "dap"]
    if traced:
        env["DEVSANDBOX_BENCH_TRACEMALLOC"] = traced
        argv = [sys.executable, str(ROOT / "bench" / "tt_server.py")]
    client = DapClient(argv, env=env, keep=lambda m: m.get("event") != "output")
    result: dict[str, Any] = {"recording": {"events": events, "line_events": lines,
                                            "file_bytes": path.stat().st_size,
                                            "raw_event_bytes": raw}}
    try:
        assert client.proc is not None
        client.request("initialize", {"adapterID": "devsandbox", "clientID": "bench"})
        rss0, _ = _rss(client.proc.pid)
        if traced:
            os.kill(client.proc.pid, signal.SIGUSR1)
            time.sleep(0.5)
        t0 = time.perf_counter()
        client.start_mark = client.mark()
        seq = client.send_request("launch", {"devsandbox": {"replay": str(path)}})
        client.event("initialized", timeout=600)
        client.response(seq, timeout=600)
        client.request("setBreakpoints", {"source": {"path": program}, "breakpoints": []})
        client.request("setExceptionBreakpoints", {"filters": []})
        client.request("configurationDone")
        first = client.stopped(timeout=600)
        result["open_ms"] = (time.perf_counter() - t0) * 1000
        tid = first["threadId"]
        total = client.request("devsandbox/position")["body"]["steps"]
        rng = random.Random(1)
        points = [rng.randrange(total // 20, total - 1) for _ in range(samples)]

        back, variables, jumps = [], [], []
        for point in points:
            jumps.append(_timed(client, "devsandbox/gotoStep", {"threadId": tid, "step": point},
                                True))
            for _ in range(5):
                back.append(_timed(client, "stepBack", {"threadId": tid}, True))
            frames = client.request("stackTrace", {"threadId": tid})["body"]["stackFrames"]
            frame = frames[1] if len(frames) > 1 else frames[0]
            t1 = time.perf_counter()
            scopes = client.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
            client.request("variables", {"variablesReference": scopes[0]["variablesReference"]})
            variables.append((time.perf_counter() - t1) * 1000)
        result["gotoStep_ms"] = {"p50": _pct(jumps, 50), "p95": _pct(jumps, 95)}
        result["stepBack_ms"] = {"p50": _pct(back, 50), "p95": _pct(back, 95), "n": len(back)}
        result["variables_ms"] = {"p50": _pct(variables, 50), "p95": _pct(variables, 95),
                                  "n": len(variables)}

        # reverseContinue over the whole recording: from the end to a line run only at the start
        client.request("devsandbox/gotoStep", {"threadId": tid, "step": total - 1})
        client.stopped(timeout=60, start=client.mark() - 1)
        start_line = WORKLOAD.splitlines().index("    started = True  # only once, at the start:"
                                                 " the reverseContinue target") + 1
        client.request("setBreakpoints", {"source": {"path": program},
                                          "breakpoints": [{"line": start_line}]})
        rc = [_timed(client, "reverseContinue", {"threadId": tid}, True)]
        hit = client.request("devsandbox/position")["body"]
        client.request("devsandbox/gotoStep", {"threadId": tid, "step": total - 1})
        client.request("setBreakpoints", {"source": {"path": program}, "breakpoints": []})
        rc_none = _timed(client, "reverseContinue", {"threadId": tid}, True)
        result["reverseContinue_ms"] = {"to_breakpoint": rc[0], "hit_line": hit["line"],
                                        "to_start": rc_none}

        # valueHistory of the loop variable of work() over the whole recording
        client.request("devsandbox/gotoStep", {"threadId": tid, "step": total // 2})
        client.request("setBreakpoints", {"source": {"path": program}, "breakpoints": [
            {"line": WORKLOAD.splitlines().index("        x = i % 7") + 1}]})
        client.request("reverseContinue", {"threadId": tid})
        time.sleep(0.2)
        t1 = time.perf_counter()
        hist = client.request("devsandbox/valueHistory", {"expression": "x", "scope": "function",
                                                          "limit": 100}, timeout=600)["body"]
        result["valueHistory_ms"] = (time.perf_counter() - t1) * 1000
        result["valueHistory_changes"] = sum(d["count"] for d in hist["distinct"])
        rss, hwm = _rss(client.proc.pid)
        result["memory"] = {"baseline_rss": rss0, "rss": rss, "peak_rss": hwm,
                            "added_rss": rss - rss0, "added_peak": hwm - rss0}
        if traced:
            os.kill(client.proc.pid, signal.SIGUSR2)
            deadline = time.monotonic() + 30
            while not os.path.exists(traced) and time.monotonic() < deadline:
                time.sleep(0.05)
            with open(traced) as f:
                result["traced"] = json.load(f)
    finally:
        client.request("disconnect", {}, check=False, timeout=30)
        client.close()
    if export_size:
        proc = subprocess.Popen([sys.executable, "-m", "devsandbox", "export", str(path)],
                                env=_env(), stdout=subprocess.PIPE)
        size = 0
        assert proc.stdout is not None
        for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
            size += len(chunk)
        proc.wait()
        result["recording"]["jsonl_bytes"] = size
    return result


def report(r: dict[str, Any]) -> str:
    rec = r["recording"]
    mem = r["memory"]
    rows = [
        (f"recording: {rec['events']:,} events ({rec['line_events']:,} line events), "
         f"{rec['file_bytes'] / 1e6:.1f} MB on disk, {rec['raw_event_bytes'] / 1e6:.1f} MB "
         "uncompressed events"
         + (f", {rec['jsonl_bytes'] / 1e6:.0f} MB as JSON lines" if "jsonl_bytes" in rec else "")),
        f"open (launch to first stop)      {r['open_ms']:8.0f} ms",
        (f"stepBack p50 / p95               {r['stepBack_ms']['p50']:8.1f} / "
         f"{r['stepBack_ms']['p95']:.1f} ms   (target p95 < 20 ms)"),
        (f"gotoStep (random jump) p50 / p95 {r['gotoStep_ms']['p50']:8.1f} / "
         f"{r['gotoStep_ms']['p95']:.1f} ms"),
        (f"reverseContinue, whole recording {r['reverseContinue_ms']['to_breakpoint']:8.1f} ms"
         f"   (target < 300 ms; from the last step to line {r['reverseContinue_ms']['hit_line']},"
         f" run only at the start; to the start without breakpoints: "
         f"{r['reverseContinue_ms']['to_start']:.1f} ms)"),
        (f"variables of a past frame p50/p95 {r['variables_ms']['p50']:7.1f} / "
         f"{r['variables_ms']['p95']:.1f} ms   (target p95 < 20 ms)"),
        (f"valueHistory, whole recording    {r['valueHistory_ms']:8.0f} ms   (target < 500 ms; "
         f"{r['valueHistory_changes']:,} changes)"),
        (f"server memory added              {mem['added_rss'] / 1e6:8.1f} MB (peak "
         f"{mem['added_peak'] / 1e6:.1f} MB) = "
         f"{100 * mem['added_peak'] / rec['raw_event_bytes']:.0f}% of the uncompressed events"
         + (f", {100 * mem['added_peak'] / rec['jsonl_bytes']:.1f}% of the JSON lines"
            if "jsonl_bytes" in rec else "") + "   (target < 10%)"),
    ]
    tiny = r.get("memory_tiny")
    if tiny:
        raw = rec["raw_event_bytes"] - tiny["raw_event_bytes"]
        grown, grown_peak = (mem["added_rss"] - tiny["added_rss"],
                             mem["added_peak"] - tiny["added_peak"])
        rows += [
            (f"  of which any replay costs      {tiny['added_rss'] / 1e6:8.1f} MB (peak "
             f"{tiny['added_peak'] / 1e6:.1f} MB: the same on a {tiny['events']:,}-event "
             f"recording, {tiny['raw_event_bytes'] / 1e6:.2f} MB uncompressed)"),
            (f"  and grows with the recording   {grown / 1e6:8.1f} MB (peak "
             f"{grown_peak / 1e6:.1f} MB) = {100 * grown / raw:.1f}% (peak "
             f"{100 * grown_peak / raw:.1f}%) of the {raw / 1e6:.1f} MB more uncompressed "
             "events   (target < 10%)"),
        ]
    traced = r.get("traced")
    if traced:
        raw = rec["raw_event_bytes"]
        rows.append(
            f"replay's allocations (tracemalloc) {traced['held'] / 1e6:6.2f} MB held (peak "
            f"{traced['peak'] / 1e6:.2f} MB) = {100 * traced['held'] / raw:.1f}% (peak "
            f"{100 * traced['peak'] / raw:.1f}%) of the uncompressed events   (target < 10%; "
            "resident memory above can end below its baseline: the replay returns to the "
            "system the heap pages the server's start-up freed)")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    events = 30_000 if args.quick else args.events
    samples = 3 if args.quick else args.samples
    with tempfile.TemporaryDirectory(prefix="devsandbox-bench-tt-") as tmp:
        path = record(Path(tmp), events)
        result = measure(path, samples, not (args.quick or args.no_export_size))
        tiny_dir = Path(tmp) / "tiny"
        tiny_dir.mkdir()
        tiny = measure(record(tiny_dir, 1), samples, False)
        result["memory_tiny"] = {"events": tiny["recording"]["events"],
                                 "raw_event_bytes": tiny["recording"]["raw_event_bytes"],
                                 **tiny["memory"]}
        # the same requests again, the server under tracemalloc (its latencies not reported)
        result["traced"] = measure(path, samples, False, str(Path(tmp) / "traced.json")
                                   )["traced"]
    result["benchmark"] = "timetravel"
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0
