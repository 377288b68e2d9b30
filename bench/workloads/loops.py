"""Loops with integer and float arithmetic in one frame."""

from _timing import run


def work(n):
    total = 0
    x = 0.5
    i = 0
    while i < n:
        total += (i * i) % 7
        if i & 1:
            x = x * 1.000001 + 0.25
        else:
            x -= 0.125
        i += 1
    for j in range(n // 2):
        total ^= j << 1
    return [total, round(x, 3)]


run(work, 3_000_000)
