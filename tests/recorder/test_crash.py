"""SIGKILL at random moments: the reader recovers everything up to the last
flushed frame (at most ~100 ms behind) and says where and why it ends."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from .conftest import PROGRAMS, env

from devsandbox.recording.reader import Recording


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_mid_run(tmp_path, seed):
    out = tmp_path / "spin.dsrec"
    program = PROGRAMS / "cli" / "spin.py"
    opts = {"out": str(out), "include": [str(program)]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "devsandbox.recorder", "--options", json.dumps(opts), "--",
         str(program)], env=env(), stdout=subprocess.PIPE, text=True)
    seen: list[tuple[float, int]] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append((time.monotonic(), int(line)))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(random.Random(seed).uniform(0.3, 1.2))
        killed_at = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
        t.join(5)
    # printed at least 0.5 s before the kill: must be in the recording
    promised = max((v for when, v in seen if when <= killed_at - 0.5), default=0)
    with Recording(str(out)) as rec:
        assert not rec.complete
        assert rec.end["truncated"] and "killed" in rec.end["reason"] or "ends inside" in rec.end[
            "reason"]
        values = [int(ev.locals["i"]) for ev in rec.events() if "i" in ev.locals]
        assert values, "nothing recovered"
        assert max(values) >= promised
        # the events that are there are whole and in order
        assert values == sorted(values)
        last = max(rec.threads)
        steps = [ev.step for ev in rec.events() if ev.thread == last]
        assert steps == list(range(steps[0], steps[0] + len(steps)))
