"""Sample program for the language server tests: lines are found by their # @markers."""

import os
import sys
import time

SETTINGS = {"mode": "fast", "retries": 3}  # @settings
counter = 0


class Box:
    def __init__(self, size):
        self.size = size

    @property
    def area(self):
        return self.size * self.size


box = Box(7)


def accumulate(n):
    total = 0  # @total_init
    for i in range(n):  # @for
        total += i  # @loop_body
    return total  # @loop_return


def helper(x):
    y = x * 2
    return y  # @helper_return


def fragile(value):
    scale = value * 10
    if value > 1:
        raise ValueError(f"too big: {value}")  # @raise
    return scale


def tick():
    global counter
    counter += 1  # @tick
    return counter


def main(mode):
    result = accumulate(10)  # @call
    values = [helper(k) for k in range(3)]
    for v in range(4):
        try:
            fragile(v)
        except ValueError:
            pass
    if mode == "spin":
        deadline = time.time() + 60
        while time.time() < deadline and not os.path.exists("stop"):
            tick()  # @spin
            time.sleep(0.02)
    return result, values


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "once")
