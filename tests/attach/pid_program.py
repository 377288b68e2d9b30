"""A plain program (no DevSandbox import) that loops; tests attach to it by pid."""

import sys
import time

RUN_FOR = float(sys.argv[1]) if len(sys.argv) > 1 else 120.0


def work(i):
    value = i * 3  # @work_body
    return value


def main():
    deadline = time.time() + RUN_FOR
    i = 0
    print("ready", flush=True)
    while time.time() < deadline:
        work(i)
        i += 1
        time.sleep(0.02)


main()
