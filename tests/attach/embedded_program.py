"""Embedded mode sample: ``devsandbox.listen(PORT)`` then a loop (tests/attach)."""

import sys
import time

import devsandbox

PORT = int(sys.argv[1])
RUN_FOR = float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
devsandbox.listen(PORT)
print("listening", PORT, flush=True)


def work(i):
    value = i * 2  # @work_body
    return value


def main():
    deadline = time.time() + RUN_FOR
    i = 0
    while time.time() < deadline:
        work(i)
        i += 1
        time.sleep(0.02)


main()
