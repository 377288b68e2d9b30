"""A tiny workload for the benchmark's smoke test."""

from _timing import run


def work(n):
    return sum(i * i for i in range(n))


run(work, 10_000)
