"""Two threads: the worker stops at a breakpoint while the session is in main's past.

The worker's breakpoint has a condition that waits on a FIFO (the test's `wait` path): the
worker is past debugpy's check for a pending suspension when main stops, so its stop comes
later, as its own stopped event, when the test writes the FIFO.
"""
import sys
import threading


def worker(wait):
    got = wait  # @worker_bp
    return got


def main(go, wait):
    t = threading.Thread(target=worker, args=(wait,), name="worker-1")
    t.start()
    with open(go) as fifo:  # blocks until the test sees the worker in its breakpoint's condition
        fifo.read()
    total = 0
    for i in range(3):
        total += i  # @main_loop
    t.join()
    return total


main(sys.argv[1], sys.argv[2])
