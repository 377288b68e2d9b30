"""``python -m devsandbox.agent.experiments host|worker``: run an experiment job read as JSON
from stdin; the JSON report is the last line on stdout.

``host`` runs a whole job (one worker process per variant unless the job says
``"isolation": "inprocess"``); ``worker`` measures in this process under the
job's resource limits.  What the measured code prints goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("host", "worker"):
        sys.stderr.write("usage: python -m devsandbox.agent.experiments host|worker < job.json\n")
        return 2
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the measured code's prints go to stderr, not into the report
    job = json.loads(sys.stdin.read() or "{}")
    if not isinstance(job, dict):
        sys.stderr.write("the job must be a JSON object\n")
        return 2
    from . import host

    if argv[0] == "worker":
        report = host.worker_main(job)
    else:
        for path in reversed([p for p in job.get("sysPath") or [] if isinstance(p, str)]):
            if path not in sys.path:
                sys.path.insert(0, path)
        try:
            report = host.run_job(job)
        except ValueError as exc:
            report = {"status": "error", "error": {"type": "InvalidJob", "message": str(exc)}}
    out.write(json.dumps(report) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
