"""Lines that say which object they change: attribute and item stores into objects held by
locals, globals or one attribute of them, augmented assignments of attributes and items,
methods of lists, dicts and sets, and calls of builtins that change nothing.  A step after
such a line compares only the locals whose values show a changed object, in its frame and
in the frames above it.  Every way that could miss a change is here too: the same object
shown by other locals and other frames, through containers and attributes, objects that
store elsewhere than they seem to (properties, __setattr__, __slots__, a list subclass, a
class attribute, a module attribute), augmented assignments that change a list in place,
builtins shadowed by functions that change their argument, and a callee that changes many
objects before its caller's next step."""

import math
import operator
import sys


class Point:
    def __init__(self, i):
        self.x = float(i)
        self.y = math.sqrt(i)
        self.tags = []

    def move(self, dx):
        self.x += dx
        self.tags.append("moved")
        self.tags += ["again"]

    def maximize(self, other):
        self.x = self.x if self.x > other.x else other.x
        self.y = other.y > self.y and other.y or self.y
        return self

    def __repr__(self):
        return "Point(%r, %r, %r)" % (self.x, self.y, self.tags)


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = 1
        self.b = [0]


class Guarded:
    def __init__(self):
        self.log = []
        self._v = 0

    @property
    def v(self):
        return self._v

    @v.setter
    def v(self, value):
        self._v = value
        SHARED.append(value)


class Loud:
    def __init__(self):
        self.seen = []

    def __setattr__(self, name, value):
        if name != "seen":
            GLOBAL_LOG.append(name)
        object.__setattr__(self, name, value)


class Listish(list):
    def append(self, item):
        SHARED.append(("listish", item))
        super().append(item)


class Holder:
    count = 0


REGISTRY = {}


class Tracked:
    """An attribute whose setter is C code storing elsewhere (no Python code to see)."""
    tracked = property(lambda self: REGISTRY.get(self), REGISTRY.__setitem__)

    def __repr__(self):
        return "Tracked()"


COUNTER = 0
REGISTER = []


class Registered:
    def __init__(self, name):
        self.name = name
        REGISTER.append(name)


class Made:
    def __new__(cls, box):
        box.append("new")
        return super().__new__(cls)

    def __init__(self, box):
        self.box = box


class Meta(type):
    def __call__(cls, box):
        box.append("meta")
        return super().__call__()


class ByMeta(metaclass=Meta):
    pass


class SetInit:
    """An __init__ that is C code changing its argument."""
    __init__ = list.append


def bump():
    global COUNTER
    COUNTER += 1
    return COUNTER


GROWING = []


def grow_global():
    global GROWING
    GROWING += ["in place"]


def view_growing():
    view = GROWING
    grow_global()
    return view


def counting():
    global COUNTER
    seen = REGISTER
    view = view_growing()
    before = COUNTER
    for i in range(3):
        bump()
        COUNTER += 10
        r = Registered("r%d" % i)
        assert isinstance(r, Registered)
    box = []
    Made(box)
    ByMeta(box)
    try:
        SetInit(box)
    except TypeError:
        pass
    for x in sorted(box):
        box.append(x.upper())
    return seen, before, COUNTER, box, r.name, view


def gen_shared(shared):
    for i in range(3):
        shared.append(i)
        yield len(shared)


def generators():
    shared = []
    total = 0
    for n in gen_shared(shared):
        total += n
    return shared, total


SHARED = []
GLOBAL_LOG = []
GRID = [[0, 0], [0, 0]]


def hash(x):  # noqa: A001 - a builtin the recorder knows, shadowed by one that changes x
    x.append("shadowed")
    return 0


min = operator.setitem  # noqa: A001 - and one shadowed by C code that changes its argument


def nudge(points, i):
    p = points[i]
    p.move(1.5)
    p.y = -p.y
    return p


def many(points):
    for p in points:
        p.x -= 1
        p.tags.append("many")


def stores_and_items():
    pts = [Point(i) for i in range(4)]
    pair = (pts[0], pts)
    by_name = {"first": pts[0], "all": pts}
    nudge(pts, 0)
    nudge(pts, 2)
    many(pts)
    v1 = [1.0, 2.0, 3.0]
    bodies = [(v1, 5.0), ([0.0], 1.0)]
    v1[0] -= 0.5
    v1[1] += v1[0]
    bodies[1][0][0] = 9.0
    d = {"a": 1, "b": [1]}
    alias = d["b"]
    d["a"] += 1
    d["b"] += [2]
    d["c"] = alias
    del d["a"]
    long = list(range(100))
    holder = [long]
    long[70] = "past the items shown"
    long[-1] = "the last"
    long[3] = "shown"
    i = 63
    long[i] = "the last shown"
    s = {1}
    s.add(2)
    s.discard(1)
    n = len(pts) + abs(-3) + int(math.floor(2.5))
    return pair, by_name, bodies, d, alias, s, n, holder


def attributes():
    sl = Slotted()
    b = sl.b
    sl.a += 1
    sl.b += [1]
    g = Guarded()
    g.v = 5
    g.log.append("x")
    loud = Loud()
    loud.x = 1
    lst = Listish()
    lst.append(3)
    reg = REGISTRY
    t = Tracked()
    t.tracked = 5
    Holder.count += 1
    h = Holder()
    mod = sys.modules[__name__]
    mod.LATE = [1]
    late = LATE
    late.append(2)
    return b, g.log, g.v, loud.x, lst, h.count, late, reg


def globals_and_shadows():
    row = GRID[0]
    GRID[0][1] = 4
    GRID[1] = [5, 5]
    GRID.append(row)
    box = []
    hash(box)
    min(box, 0, "set")
    setitem = operator.setitem
    setitem(box, 0, "again")
    keep = SHARED
    SHARED.append("direct")
    return box, keep, row


def branches():
    a, b = [1], [2]
    both = (a, b)
    for flag in (True, False):
        (a if flag else b)[0] += 10
        (b if flag else a).append(flag)
        a[0] = -a[0] if flag else a[0] * 2
        b.append(len(a) if flag else len(b))
    best = Point(0)
    pts = [Point(i) for i in range(5)]
    for p in pts:
        best = best.maximize(p)
    return both, best, pts


def loop_body_stores():
    pts = [None] * 4
    view = [pts]
    for i in range(4):
        pts[i] = Point(i)
    while pts:
        pts.pop()
    return view


def caller_sees_callee():
    pts = [Point(i) for i in range(3)]
    first = pts[0]
    for i in range(3):
        nudge(pts, i % 3)
    many(pts * 50)  # more changes than the log keeps for the caller's next step
    return first


def main():
    print(stores_and_items())
    print(attributes())
    print(globals_and_shadows())
    print(branches())
    print(counting())
    print(generators())
    print(loop_body_stores())
    print(caller_sees_callee())
    print(SHARED, GLOBAL_LOG, GRID)


if __name__ == "__main__":
    main()
