"""Starting debugpy's adapter before anything else is imported (no asyncio here).

``devsandbox dap`` calls ``start_early()`` first thing, so that the adapter's
own start-up runs while the server imports itself; the session then adopts
the process (see ``backend.prewarm``).
"""

from __future__ import annotations

import os
import subprocess
import sys


def adapter_argv() -> list[str]:
    argv = [sys.executable, "-m", "debugpy.adapter"]
    log_dir = os.environ.get("DEVSANDBOX_DEBUGPY_LOG_DIR")
    if log_dir:
        argv += ["--log-dir", log_dir]
    return argv


def start_early() -> subprocess.Popen[bytes]:
    return subprocess.Popen(adapter_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
