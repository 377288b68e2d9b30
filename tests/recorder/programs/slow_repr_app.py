"""A __repr__ that would take seconds: the recorder interrupts it at its time budget."""

import time


class Sluggish:
    def __init__(self, n):
        self.n = n

    def __repr__(self):
        end = time.monotonic() + 5
        while time.monotonic() < end:
            pass
        return f"Sluggish({self.n})"


def use(value):
    other = Sluggish(2)
    return value.n + other.n


start = time.monotonic()
print(use(Sluggish(1)))
print("took", round(time.monotonic() - start, 1))
