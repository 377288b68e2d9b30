"""Classes whose __repr__ only formats attributes (the native recorder then writes the
attributes' values and the reader renders the text), and reprs that look like templates
but are not: each must read back exactly as repr() showed it."""

import math
from dataclasses import dataclass

MODE = "short"


class Point:
    __slots__ = ("x", "y", "z")

    def __init__(self, i):
        self.x = math.sin(i)
        self.y = i * 3
        self.z = "p%d" % i

    def __repr__(self):
        return "<Point: x=%s, y=%s, z=%r>" % (self.x, self.y, self.z)


@dataclass
class Item:
    name: str
    qty: int
    price: float = 0.0


class Money:
    def __init__(self, amount, currency):
        self.amount = amount
        self.currency = currency

    def __repr__(self):
        return f"Money({self.amount:>12,.2f} {self.currency!s:} {self.amount:e} {self.currency:^7})"


class Joined:
    def __init__(self):
        self.a = 1
        self.b = "two"

    def __repr__(self):
        return "Joined<" + ", ".join([str(self.a), repr(self.b)]) + ">" + "{}/{!r}".format(self.a, self.b)


class Padded:
    """"%5s" pads the value's text: not a template."""

    def __init__(self, v):
        self.v = v

    def __repr__(self):
        return "Padded(%5s)" % self.v


class Moded:
    """Reads a global: not a template."""

    def __init__(self, v):
        self.v = v

    def __repr__(self):
        return f"Moded({self.v}, {MODE})"


class Branchy:
    """Its text depends on a test of the value: not a template."""

    def __init__(self, v):
        self.v = v

    def __repr__(self):
        return f"Branchy({self.v if self.v else 'empty'})"


class Cased:
    """A method of the value's text: not a template."""

    def __init__(self, v):
        self.v = v

    def __repr__(self):
        return f"Cased({str(self.v).upper()})"


class Sized:
    """A spec that an int takes and a float refuses (repr() fails for a float)."""

    def __init__(self, v):
        self.v = v

    def __repr__(self):
        return f"Sized({self.v:08x})"


def shapes():
    points = [Point(i) for i in range(5)]
    for p in points:
        p.x /= 2
        p.y = p.y / 7
        p.z = None if p.y > 1 else p.z
    p = points[-1]
    p.x = float("nan")
    p.x = float("inf")
    p.x = -0.0
    p.y = 10**30  # beyond what a template field takes: the repr() runs
    p.y = True
    p.z = "é\n\x00" * 3
    p.z = "long" * 400  # past max_str: the repr() runs (and is cut at max_repr)
    del p.z  # the repr() fails: shown as such
    p.z = [1, 2]  # not a scalar: the repr() runs
    return points


def money():
    m = Money(1234.5, "EUR")
    for amount in (0.0, -1e6, 123456789.125, 1e14, 1e16, float("nan"), 7, True):
        m.amount = amount
    m.currency = None  # "^7" refuses None: repr() fails, shown as such
    m.currency = "GBP"
    m.amount = "12"  # ",.2f" refuses a str: repr() fails
    m.amount = 3.5
    return m


def items():
    basket = [Item("apple", 3), Item("pear", 1, 0.5)]
    for it in basket:
        it.qty += 1
        it.price = it.price * 2 + 0.1
        it.name = it.name.title()
    it = basket[0]
    it.qty = "many"
    it.price = None
    return basket


def not_templates():
    global MODE
    pad = Padded(1)
    pad.v = 22
    mod = Moded(1)
    MODE = "long"
    mod.v = 2
    br = Branchy(0)
    br.v = 5
    br.v = ""
    ca = Cased("abc")
    ca.v = "x1e5"
    si = Sized(255)
    si.v = 4096
    si.v = 1.5
    si.v = 7
    jo = Joined()
    jo.a = 2.25
    jo.b = "quote'd"
    return pad, mod, br, ca, si, jo


def main():
    for _ in range(2):
        points = shapes()
        m = money()
        basket = items()
        others = not_templates()
    print(len(points), m.currency, len(basket), len(others))


main()
