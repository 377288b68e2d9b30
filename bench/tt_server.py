"""`devsandbox dap` under tracemalloc, for the memory pass of ``bench timetravel``.

The server's resident memory can hide what a replay allocates: the replay gives the heap's
free pages back to the system (malloc_trim), including those the server's start-up had
freed, so VmRSS may end below its baseline.  This pass counts what Python's allocators
hand out instead (every PyMem domain: objects, buffers and our C scanner's arrays):
SIGUSR1 takes the baseline and resets the peak, SIGUSR2 writes what is held since then and
the peak to the file named by DEVSANDBOX_BENCH_TRACEMALLOC (both taken by a thread of this
wrapper, so that a busy or waiting main thread does not delay them).  tracemalloc slows the server,
so this pass's latencies are not reported.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
import threading
import tracemalloc

tracemalloc.start()
_base = [0]
_out = os.environ["DEVSANDBOX_BENCH_TRACEMALLOC"]  # read now: the server tidies its environment


def _serve_signals() -> None:
    """In a thread of its own: answered at once, whatever the server's main thread does."""
    while True:
        signum = signal.sigwait({signal.SIGUSR1, signal.SIGUSR2})
        if signum == signal.SIGUSR1:
            tracemalloc.reset_peak()
            _base[0] = tracemalloc.get_traced_memory()[0]
            continue
        current, peak = tracemalloc.get_traced_memory()
        with open(_out + ".tmp", "w") as f:
            json.dump({"held": current - _base[0], "peak": peak - _base[0]}, f)
        os.replace(_out + ".tmp", _out)


# blocked in every thread (those started later inherit the mask), taken by sigwait
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGUSR2})
threading.Thread(target=_serve_signals, name="bench-tracemalloc", daemon=True).start()
sys.argv = ["devsandbox", "dap"]
runpy.run_module("devsandbox", run_name="__main__", alter_sys=True)
