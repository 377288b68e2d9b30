"""Scalars, containers, closures, classes, deletion, globals, comprehensions."""
from dataclasses import dataclass

COUNTER = 0


@dataclass
class Point:
    x: int
    y: int


class Plain:
    def __init__(self, v):
        self.v = v


def bump():
    global COUNTER
    COUNTER += 1
    return COUNTER


def make_adder(n):
    total = [0]

    def add(k):
        total[0] += k + n
        return total[0]

    return add


def values():
    i = 7
    big = 2 ** 100
    neg = -3
    f = 1.5
    nan = float("nan")
    c = complex(1, -2)
    s = "it's \"quoted\" ünïcode\n"
    b = b"\x00bytes'"
    t = (1,)
    e = ()
    fs = frozenset({3})
    st = set()
    st.add(1)
    d = {"a": [1, (2, 3)], 4: None, (5,): {True, False}}
    nested = [[[["deep"]]]]
    selfref = [1]
    selfref.append(selfref)
    p = Point(1, 2)
    p.x = 10
    q = Plain(3)
    del i
    n = 3
    while n: n -= 1
    squares = [k * k for k in range(4)]
    gen = sum(k for k in range(3))
    return (big, neg, f, nan, c, s, b, t, e, fs, st, d, nested, selfref, p, q, squares, gen)


add = make_adder(10)
add(1)
add(2)
bump()
bump()
values()
lam = (lambda z: z * 2)(21)
print("done", COUNTER, lam)
