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


class Vec:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __repr__(self):
        return "Vec(%s,%s)" % (self.x, self.y)


class Ray:
    """repr() of attributes whose own repr is a template: rendered from their values too."""

    def __init__(self, start, heading):
        self.start = start
        self.heading = heading

    def __repr__(self):
        return "Ray(%s,%s)" % (repr(self.start), repr(self.heading))


class Labeled:
    """str() of an attribute: the same text as its repr() unless its class has a __str__."""

    def __init__(self, v):
        self.v = v

    def __repr__(self):
        return "Labeled(%s)" % self.v


class Named:
    def __init__(self, n):
        self.n = n

    def __str__(self):
        return "named " + self.n

    def __repr__(self):
        return "Named(%r)" % self.n


class Defaults:
    """A class attribute answers for an attribute not set yet: repr() shows it."""

    kind = "plain"

    def __init__(self, v, kind=None):
        self.v = v
        if kind:
            self.kind = kind

    def __repr__(self):
        return "Defaults(%s, %s)" % (self.v, self.kind)


class Lazy:
    """__getattr__ answers for attributes not set yet."""

    def __init__(self, v):
        self.v = v
        self.w = v * 2

    def __getattr__(self, name):
        return "lazy " + name

    def __repr__(self):
        return "Lazy(%s, %s)" % (self.v, self.w)


class Late:
    """Formats an attribute with a spec its value refuses before one that is not set yet."""

    def __init__(self, v, w):
        self.v = v
        self.w = w

    def __repr__(self):
        return f"Late({self.v:d}, {self.w})"


class GVector:
    """%-conversions with a precision and a number type: format() with that spec."""

    def __init__(self, x, y, n):
        self.x = x
        self.y = y
        self.n = n

    def __repr__(self):
        return "GVector(%f, %.3e, %i, %g %%)" % (self.x, self.y, self.n, self.x)


class Wide:
    """A width in a %-conversion: not a template."""

    def __init__(self, v):
        self.v = v

    def __repr__(self):
        return "Wide(%8.2f)" % self.v


def percents():
    vs = [GVector(i / 7, i * 1e10, i) for i in range(5)]
    v = vs[-1]
    v.x = float("nan")
    v.x = True
    v.x = 10**20  # past what a fixed-point field takes: the repr() runs
    v.x = -2.5
    v.n = 3.7  # "%i" takes a float, format(.., "d") does not: the repr() runs
    v.n = "x"  # "%i" refuses a str: repr() fails
    v.n = False
    w = Wide(1.5)
    w.v = 22.125
    return vs, w


def being_built():
    """Instances shown while __init__ sets their attributes one by one."""
    made = []
    for i in range(6):
        made.append(Defaults(i, "odd" if i % 2 else None))
        made.append(Lazy(i))
        made.append(Late(i, -i))
        made.append(Late("s", i))  # repr() fails with ValueError, even before w is set
    return made


def nested():
    rays = [Ray(Vec(i, i / 3), Vec(-i, 0.5)) for i in range(4)]
    for r in rays:
        r.start.x += 1
        r.heading.y = r.heading.y * 3
    r = rays[0]
    r.heading = Named("north")  # repr() of it: its template
    r.heading = Ray(Vec(1, 2), Ray(Vec(3, 4), Vec(5, 6)))  # three levels: all templates
    r.heading.heading.heading = Ray(Vec(7, 8), Vec(9, 0))  # four: the third level's repr() runs
    r.heading = Ray(Vec(1, 2), [1])  # a list inside: the repr() runs
    r.start.y = "y"
    tag = Labeled(Vec(1, 2))  # str() of a Vec is its repr
    tag.v.x = 7.5
    tag.v = Named("n")  # str() is its own: the repr() runs
    tag.v.n = "m"
    return rays, tag


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
        rays, tag = nested()
        built = being_built()
        gvs = percents()
    print(len(points), m.currency, len(basket), len(others), rays[1], tag, built[:3], gvs)


main()
