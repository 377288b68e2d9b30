"""Statements whose code the compiler lays out in pieces, and the calls a step sees only by
name.  A multi-line call is the start of its first line, then its other lines, then the call
itself back on the first line; a `for` line is its iterator, then the loop's exit after the
body; a `with` line is its entry, then its exit after the body.  Each event at the start of a
piece runs only that piece, so each is judged alone: here every kind of piece changes objects
that other locals and other frames show, through names, through C code and through calls of
module functions (`heapq.heappush`, `operator.setitem`, `math.fsum`), and rebinds globals,
one of them read by the repr of a value another module's frame shows (styles).  The fidelity
tests check that every change reaches the recording."""

import heapq
import math
import operator

import pieces_helper

TOTAL = 0
LOG = []


class Vec:
    def __init__(self, x=0.0, y=0.0):
        self.x = x
        self.y = y

    def mix(self, other, a, b=None):
        if b is None:
            b = 1 - a
        v = Vec(self.x * a + other.x * b,
                self.y * a + other.y * b)
        return v

    def scale_in_place(self, k):
        self.x, self.y = (self.x * k,
                          self.y * k)
        return self

    def __repr__(self):
        return "Vec(%r, %r)" % (self.x, self.y)


class Bag:
    def __init__(self):
        self.items = []
        self.count = 0

    def add(self, v):
        self.items.append(
            v)
        self.count = len(
            self.items)


class Recorder:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        self.log.append("enter")
        return self

    def __exit__(self, *exc):
        self.log.append("exit")
        return False


def blend(points, shared):
    out = [points[0]]
    for i in range(1,
                   len(points)):
        w = out[-1].mix(points[i],
                        0.25)
        out.append(w)
        shared.append(len(
            out))
    for p in out:
        p.scale_in_place(
            2.0)
    return out


def heap_work(values, mirror):
    heap = []
    for v in sorted(values,
                    reverse=True):
        heapq.heappush(heap,
                       v)
        mirror[0] = heap[0]
    operator.setitem(mirror,
                     1, len(heap))
    total = math.fsum(
        heap)
    return heap, total


def helper_calls(data):
    same = data
    pieces_helper.grow(data,
                       3)
    n = pieces_helper.size(
        same)
    pieces_helper.grow(same, n)
    return n


def bump(k):
    global TOTAL
    TOTAL += k
    LOG.append(TOTAL)
    seen = (TOTAL,
            len(LOG))
    return seen


def with_pieces(log):
    shadow = log
    with Recorder(log) as r:
        shadow.append(
            "body")
    after = len(shadow)
    with Recorder(
            log):
        n = len(log)
    return r.log is log, after, n


def walrus_and_choice(values, bag):
    total = sum(values,
                (first := values[0]))
    pick = (values[0] if total > 10
            else values[-1])
    bag.add(Vec(first,
                pick))
    bag.add(
        Vec(pick if pick > first else first,
            total))
    return total, first, pick


def styles():
    t = pieces_helper.Tag(1)
    pieces_helper.restyle(
        "fancy")
    n = 1
    pieces_helper.restyle("plain")
    return t, n


def main():
    shared = []
    pts = [Vec(float(i), float(i * i)) for i in range(5)]
    keep = pts[2]
    out = blend(pts, shared)
    print("blend", out[-1], keep, shared)
    mirror = [0, 0]
    heap, total = heap_work([5, 3, 8, 1, 9, 2], mirror)
    print("heap", heap, total, mirror)
    data = [1, 2]
    alias = data
    n = helper_calls(data)
    print("helper", n, alias)
    for k in range(3):
        seen = bump(k +
                    1)
    print("globals", TOTAL, LOG, seen)
    log = []
    print("with", with_pieces(log), log)
    bag = Bag()
    held = bag.items
    print("walrus", walrus_and_choice([4, 7, 2], bag), bag.count, held)
    print("styles", styles())


if __name__ == "__main__":
    main()
