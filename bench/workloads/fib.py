"""Recursion: naive Fibonacci (many small Python calls)."""

from _timing import run


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def work(n):
    return fib(n)


run(work, 32)
