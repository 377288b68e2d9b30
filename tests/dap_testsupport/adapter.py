"""The debug adapter DebugClient starts: `devsandbox dap` on this interpreter.

DebugClient takes a runtime and ONE script path, so this wrapper stands in for
`python -m devsandbox dap`.  DEVSANDBOX_DAP_LOG names a log file for the server;
DEVSANDBOX_TESTSUPPORT_ADAPTER=debugpy runs debugpy's own adapter instead (to
check the tests themselves against the reference).
"""

import os
import sys

if os.environ.get("DEVSANDBOX_TESTSUPPORT_ADAPTER") == "debugpy":
    os.execv(sys.executable, [sys.executable, "-m", "debugpy.adapter"])

from devsandbox.cli import main  # noqa: E402

argv = []
if os.environ.get("DEVSANDBOX_DAP_LOG"):
    argv += ["--log-file", os.environ["DEVSANDBOX_DAP_LOG"], "--log-level", "DEBUG"]
sys.exit(main(argv + ["dap"]))
