"""Functions reading module globals that change."""

import math

COUNTER = 0
SETTINGS = {"scale": 2}
history = []


def bump(n):
    global COUNTER
    COUNTER += n * SETTINGS["scale"]
    history.append(COUNTER)
    return math.floor(COUNTER / 3)


def main():
    for i in range(3):
        bump(i)
    SETTINGS["scale"] = 10
    bump(1)
    return history


print(main())
