"""Forks a child (as multiprocessing's fork start method does): its agent connects on its own."""

import os
import time

pid = os.fork()
if pid == 0:
    time.sleep(60)
    os._exit(0)
print("FORKED", pid, flush=True)
time.sleep(60)
