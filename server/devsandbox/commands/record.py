"""``devsandbox record``: run a program under the recorder.

    devsandbox record [--out FILE] [--include GLOB]... [--exclude GLOB]... -- PROGRAM [ARGS]
    devsandbox record ... -- -m MODULE [ARGS]

The program runs as python would run it (same stdout, stderr and exit
status), through ``python -m devsandbox.recorder``; progress (on a terminal)
and a summary go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

from devsandbox.recorder import format as fmt

from ..recording.reader import FormatError, Recording

NAME = "record"
HELP = "run a Python program and record its execution for time travel"

# adapters/devsandbox/recorder/format.py -> adapters/
ADAPTERS_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(fmt.__file__))))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "-o", help="recording file (default: .devsandbox/recordings/…)")
    parser.add_argument("--include", action="append", default=[], metavar="GLOB",
                        help="record only files matching (repeatable; default: the program's "
                        "own code, not the standard library or site-packages)")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="do not record files matching (repeatable)")
    parser.add_argument("--function", action="append", default=[], dest="functions",
                        metavar="GLOB", help="record only functions whose qualname matches")
    parser.add_argument("--max-value-size", type=int, metavar="N",
                        help="items per container and characters per string shown (default 64 "
                        "and 1000)")
    parser.add_argument("--max-depth", type=int, metavar="N", help="container nesting shown")
    parser.add_argument("--flight-recorder", type=float, metavar="MB",
                        help="keep only the last MB in memory; written on an uncaught exception")
    parser.add_argument("--item-diffs", action=argparse.BooleanOptionalAction, default=True,
                        help="write a container that changed as the items that changed (the "
                        "default; format 1.1), or whole again (--no-item-diffs)")
    parser.add_argument("--globals", action="store_true", dest="capture_globals",
                        help="also record the module globals each function reads (those it "
                        "rebinds are recorded by default)")
    parser.add_argument("--no-timings", action="store_false", dest="timings",
                        help="do not record the time of each call and return (no durations;"
                        " the file is then format 1.0 or 1.1, as older readers read)")
    parser.add_argument("--no-repr-templates", action="store_true",
                        help="call every repr() again, even of classes whose __repr__ only "
                             "formats attributes (recorded by default as those values)")
    parser.add_argument("--attributes", action="store_true",
                        help="record the attributes of objects whose repr shows none "
                             "(<T object at 0x…>), so that self.x has a past")
    parser.add_argument("--chunk-kb", type=int, metavar="KB",
                        help="events per written chunk before compression (4 to 1024, default "
                             "128): the most a crash loses, and what a reader holds at once")
    parser.add_argument("--backend", choices=["auto", "native", "python"], default="auto")
    parser.add_argument("--python", default=sys.executable, help="interpreter to run")
    parser.add_argument("--quiet", "-q", action="store_true", help="no summary")
    parser.add_argument("program", nargs=argparse.REMAINDER,
                        help="-- PROGRAM [ARGS] or -- -m MODULE [ARGS]")


def _options(args: argparse.Namespace) -> dict[str, object]:
    opts: dict[str, object] = {"backend": args.backend}
    if args.out:
        opts["out"] = os.path.abspath(args.out)
    if args.include:
        opts["include"] = args.include
    if args.exclude:
        opts["exclude"] = args.exclude
    if args.functions:
        opts["functions"] = args.functions
    if args.max_value_size:
        opts["max_items"] = args.max_value_size
        opts["max_str"] = max(args.max_value_size, 16)
        opts["max_repr"] = max(args.max_value_size, 16)
    if args.max_depth:
        opts["max_depth"] = args.max_depth
    if args.flight_recorder:
        opts["flight_recorder_mb"] = args.flight_recorder
    if args.chunk_kb is not None:
        if not fmt.CHUNK_KB_MIN <= args.chunk_kb <= fmt.CHUNK_KB_MAX:
            raise SystemExit(f"devsandbox record: --chunk-kb must be between {fmt.CHUNK_KB_MIN} "
                             f"and {fmt.CHUNK_KB_MAX}")
        opts["chunk_kb"] = args.chunk_kb
    if not args.item_diffs:
        opts["item_diffs"] = False
    if args.attributes:
        opts["attributes"] = True
    if args.no_repr_templates:
        opts["repr_templates"] = False
    if args.capture_globals:
        opts["globals"] = True
    if not args.timings:
        opts["timings"] = False
    return opts


def _progress(path: str, done: threading.Event) -> None:
    while not done.wait(1.0):
        try:
            size = os.path.getsize(path)
        except OSError:
            continue
        sys.stderr.write(f"\rdevsandbox: recording… {size / 1e6:.1f} MB")
        sys.stderr.flush()
    sys.stderr.write("\r\x1b[K")


def run(args: argparse.Namespace) -> int:
    program = list(args.program)
    if program and program[0] == "--":
        program = program[1:]
    if not program:
        print("devsandbox record: nothing to run (devsandbox record -- PROGRAM [ARGS])",
              file=sys.stderr)
        return 2
    opts = _options(args)
    if "out" not in opts and not args.flight_recorder:
        stem = os.path.splitext(os.path.basename(program[1] if program[0] == "-m" else program[0]))[0]
        opts["out"] = os.path.abspath(os.path.join(
            ".devsandbox", "recordings", f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.dsrec"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ADAPTERS_ROOT, env.get("PYTHONPATH")) if p)
    cmd = [args.python, "-m", "devsandbox.recorder", "--options", json.dumps(opts), "--", *program]
    done = threading.Event()
    ticker = None
    if not args.quiet and sys.stderr.isatty() and "out" in opts:
        ticker = threading.Thread(target=_progress, args=(opts["out"], done), daemon=True)
        ticker.start()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, check=False)
    except KeyboardInterrupt:
        return 130
    finally:
        done.set()
        if ticker is not None:
            ticker.join(2)
    wall = time.perf_counter() - t0
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    if not args.quiet and "out" in opts:
        _summary(str(opts["out"]), wall)
    return code


def _summary(path: str, wall: float) -> None:
    try:
        with Recording(path) as rec:
            events = rec.event_count
            end = rec.end
            size = rec.size
    except (OSError, FormatError) as exc:
        print(f"devsandbox: no readable recording at {path}: {exc}", file=sys.stderr)
        return
    est = float(end.get("recorder_seconds_estimate") or 0.0)
    run_s = float(end.get("wall_seconds") or wall)
    overhead = f", recorder ≈ {est:.2f} s of {run_s:.2f} s" if est else ""
    per = f" ({size / events:.2f} bytes/event)" if events else ""
    print(f"devsandbox: recorded {events} events in {wall:.2f} s to {path}: "
          f"{size} bytes{per}{overhead}", file=sys.stderr)
    if end.get("truncated"):
        print(f"devsandbox: the recording is incomplete: {end.get('reason')}", file=sys.stderr)
