"""Changes the recorder must see although the line that made them neither calls nor
stores into an object (a step after such a line compares only the locals it rebinds):
Python code outside the scope run by an operator, a defaultdict growing on a read, an
iterator advanced by a for loop, an augmented assignment to an alias of a list,
plain arithmetic on locals, an object in a list changed through its instance dict,
loops whose heads store into objects, and lines whose calls change objects."""

import itertools
from collections import defaultdict

# code outside the recording's scope ("<string>"), run by the + operator below
_ns: dict = {}
exec("def bump(self, other):\n    self.log.append(other)\n    return self.n + other\n", _ns)


class Acc:
    __add__ = _ns["bump"]

    def __init__(self):
        self.log = []
        self.n = 0

    def __repr__(self):
        return f"Acc({self.log})"


def operators():
    acc = Acc()
    x = acc + 1
    y = acc + x
    return x + y


def reads():
    groups = defaultdict(list)
    first = groups["a"]
    second = groups["b"]
    third = first is second
    return len(groups), third


def iterators():
    counter = itertools.count(5)
    total = 0
    for i in counter:
        total = total + i
        if i > 8:
            break
    return total


def aliases():
    a = [1]
    b = a
    a += [2]
    n = 0
    n += len(b)
    t = (1,)
    t += (2,)
    return a, b, n, t


def arithmetic(k):
    s = 0.0
    p = 1
    for j in range(k):
        s = s + j * 0.5
        p = p * 3 % 1000003
        q = s - p
    return s, p, q


class Cell:
    def __init__(self, v):
        self.__dict__["v"] = v  # an instance dict from the start

    def __repr__(self):
        return f"Cell({self.v})"


def cells():
    row = [Cell(1), Cell(2)]
    first = row[0]
    first.__dict__["v"] = 10
    n = len(row)
    first.v = 11
    return n


class Target:
    i = None

    def __repr__(self):
        return f"Target({self.i})"


def grow(box):
    box.append(len(box))
    return len(box) < 4


def loop_heads():
    """A loop's line event, after the first pass, fires at its head: what that line can do
    from there on (the stores into a subscript or an attribute in a for target, a body on
    the loop's own line, a while condition that calls) still counts."""
    slot = [0]
    target = Target()
    seen = []
    for k, slot[0] in enumerate("abc"):
        seen = seen + [k]
    for target.i in range(3):
        seen = seen + [target.i]
    acc = []
    for x in range(3): acc.append(x)  # noqa: E701
    box = []
    while grow(box):
        seen = seen + [len(box)]
    squares = [v * v for v in acc if v]
    return slot, target, seen, acc, box, squares


def pure(a, b):
    return a * 2 + b


def appends(box):
    box.append(1)
    return len(box)


_ns2: dict = {}
exec("def drain(box):\n    box.clear()\n    return 0\n", _ns2)  # outside the scope
drain = _ns2["drain"]


class Holder:
    def __init__(self):
        self.n = 1

    @property
    def size(self):
        return self.n * 2


class Seq:
    def __getitem__(self, i):
        return i + 1


def key(v):
    return -v


def calls():
    """A step after a line whose calls all started functions of the scope directly, none of
    which changed anything, compares only what that line rebinds; these lines' calls do change
    what the caller shows: through a callee's own call, a closure's cell, a second call to a
    builtin on the same line, a builtin running alongside a property or __getitem__ (which
    3.12+ also start directly, from other instructions), a builtin calling back, a class, a
    function outside the scope."""
    box = [0]
    holder, seq = Holder(), Seq()
    total = 0
    count = 0

    def bump():
        nonlocal count
        count = count + 1
        return count

    def watch():  # shows `count` as a free variable; bump, a sibling, rebinds it
        seen = count
        bump()
        seen = seen + count
        return seen

    for _ in range(4):  # enough passes for CPython to specialize these instructions
        total = pure(total, 1)
        total = appends(box)
        total = bump() + total
        total = watch() + total
        total = pure(total, box.pop())
        total = holder.size + len(box) + box.pop()
        box.append(holder.size)
        total = total + box.pop()
        box.append(5)
        total = seq[3] + box.pop()
        box.extend([3, 1, 2])
        key(0); box.sort(key=key)  # noqa: E702
        total = pure(total, len(Holder.__dict__)) + Holder().n
        total = drain(box)
        box.append(total)
    return box, total, count


print(operators(), reads(), iterators(), aliases(), arithmetic(50), cells(), loop_heads(),
      calls())
