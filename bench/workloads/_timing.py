"""Shared by the workload programs: time the work and report it on stdout.

A workload prints one line ``BENCH {"seconds": ...}`` at its end; the benchmark
finds it in the program's stdout, or in the DAP output events under a debugger.
"""

import json
import sys
import time


def run(work, default_scale):
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else default_scale
    start = time.perf_counter()
    check = work(scale)
    seconds = time.perf_counter() - start
    print("BENCH " + json.dumps({"seconds": seconds, "check": check}), flush=True)
