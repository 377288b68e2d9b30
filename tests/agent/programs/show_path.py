"""Prints what a program sees of its startup: sys.path, sitecustomize, the agent."""

import builtins
import json
import os
import sys

try:
    import sitecustomize
except ImportError:
    sitecustomize = None

print(
    json.dumps(
        {
            "path": sys.path,
            "sitecustomize": getattr(sitecustomize, "__file__", None),
            "user_sitecustomize_ran": getattr(builtins, "USER_SITECUSTOMIZE_RAN", False),
            "agent_loaded": "devsandbox.agent" in sys.modules,
            "pythonpath": os.environ.get("PYTHONPATH", ""),
        }
    ),
    flush=True,
)
sys.stdin.read()  # wait until the test is done with us
