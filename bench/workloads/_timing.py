"""Shared by the workload programs: time the work and report it on stdout.

A workload prints one line ``BENCH {"seconds": ..., "cpu": ...}`` at its end (the
work's wall time, and the CPU time of the whole process meanwhile, all threads); the benchmark
finds it in the program's stdout, or in the DAP output events under a debugger.
"""

import json
import sys
import time


def run(work, default_scale):
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else default_scale
    start, start_cpu = time.perf_counter(), time.process_time()
    check = work(scale)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print("BENCH " + json.dumps({"seconds": seconds, "cpu": cpu, "check": check}), flush=True)
