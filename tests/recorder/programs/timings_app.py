"""Calls of known durations, each also timed by its caller (printed as JSON on stdout)."""

import json
import time

measured = {}


def timed(name, fn, *args):
    t0 = time.perf_counter_ns()
    try:
        return fn(*args)
    finally:
        measured.setdefault(name, []).append((time.perf_counter_ns() - t0) // 1000)


def sleeper(ms):
    time.sleep(ms / 1000)
    return ms


def outer():
    a = timed("sleeper", sleeper, 30)
    b = timed("sleeper", sleeper, 5)
    return a + b


def failing():
    time.sleep(0.02)
    raise ValueError("late")


def catcher():
    try:
        timed("failing", failing)
    except ValueError:
        return "caught"


def countdown(n):
    while n:
        time.sleep(0.01)
        yield n
        n -= 1


timed("outer", outer)
catcher()
total = sum(countdown(3))
print(json.dumps(measured))
