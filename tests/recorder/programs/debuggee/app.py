"""Debugged with recording on (test_debugpy_coexistence): threads, stepping, setVariable, goto, pause."""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "spin"))
import spinlib  # noqa: E402  (outside the recorded scope: where the test pauses)


def helper(x):
    y = x * 2  # @helper_first
    return y  # @helper_return


def accumulate(n):
    total = 0
    for i in range(n):
        total += i  # @loop_body
    return total


def skip_demo():
    x = 1
    x = 2  # @x2
    return x  # @xret


def worker(out):
    acc = []
    for k in range(4):
        acc.append(k * k)  # @worker_body
    out.extend(acc)


def gen(n):
    for j in range(n):
        yield j * 10


def main():
    first = helper(1)  # @call_helper
    values = [helper(k) for k in range(3)] + [first]  # @after_helper
    t = threading.Thread(target=worker, args=(values,), name="worker")
    t.start(); t.join()  # noqa: E702  (one line: what the next line sees does not race)
    result = accumulate(10)
    print("result", result)
    print("skip", skip_demo())
    print("gen", sum(gen(4)))
    spinlib.wait_for_release()  # @spin
    print("values", values)
    return result


if __name__ == "__main__":
    main()
