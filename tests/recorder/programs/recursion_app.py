"""Deep recursion, mutual recursion, an exception unwinding many frames."""
import sys

sys.setrecursionlimit(5000)


def depth(n):
    if n == 0:
        return 0
    return 1 + depth(n - 1)


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


def dive(n):
    if n == 0:
        raise LookupError("bottom")
    dive(n - 1)


def main():
    d = depth(600)
    e = is_even(21)
    try:
        dive(50)
    except LookupError as exc:
        caught = exc
    return d, e, caught


print(main())
