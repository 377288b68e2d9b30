"""Nested containers shown by several locals and changed through aliases: with item-level
diffs, the recorder compares only the shadows of the objects a line changed."""


class Point:
    def __init__(self, x):
        self.x = x


def advance(pairs, bodies, steps):
    # the same small lists sit in `bodies` (depth 2, shown) and in `pairs` (depth 3: shown
    # by their length only)
    for _ in range(steps):
        for (pa, va), (pb, vb) in pairs:
            d = pa[0] - pb[0]
            va[0] -= d * 0.5
            vb[0] += d * 0.25
            va[1] = va[1] + 1
        for p, v in bodies:
            p[0] += v[0]
            p[1] += v[1]
    return bodies


def lengths(grid):
    # a list at the depth limit is shown by its length: its holder changes when that does
    row = grid[1][0]
    row[0] = 3
    row.append(7)
    row.pop()
    row.pop()
    inner = grid[0]
    inner.append([1])
    inner[0] = "x"
    inner[-1].append(2)
    grid[1][0] = [9, 9, 9]
    row.append(1)
    return grid


def reshapes(table):
    keys = table["keys"]
    keys.append("k")
    table["n"] = len(keys)
    vals = table["vals"]
    vals["a"] = [1, 2]
    vals["a"].append(3)
    vals["a"] = 5
    vals["b"] = Point(1)
    vals["b"].x = 4
    vals["c"] = {"z": []}
    vals["c"]["z"].append(vals)
    del vals["a"]
    return table


def twice(v):
    both = [v, v, (v, [v])]
    v.append(len(v))
    v[0] = -1
    nest = [both]
    both[2][1].append(0)
    v.clear()
    return nest


class Vec:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __repr__(self):
        return f"<Vec x={self.x} y={self.y}>"

    def grow(self, other):
        # a conditional expression's other branch is placed after the next line's code (3.12+)
        self.x = self.x if self.x > other.x else other.x
        self.y = self.y if self.y > other.y else other.y + 1
        return self

    def shrink(self, other, box):
        box[0] = self.x and other.x or -1
        self.x -= 1 if other.x > 2 else 2
        return self


def multiline(vecs):
    # lines in pieces entered from other lines' code: compared whole
    v = vecs[0]
    v.x = max(v.x,
              len(vecs))
    vecs[1].y = (v.x
                 if v.x > 3 else
                 -v.x)
    return v


def objects(vecs):
    # objects shown by their attributes inside a list: each is compared alone when changed
    best = vecs[0]
    box = [0]
    for _ in range(10):
        for v in vecs[1:]:
            best = best.grow(v)
            v.shrink(best, box)
    vecs[1].y = 100
    multiline(vecs)
    vecs.append(Vec(0, 0))
    vecs[-1].x = 5
    return best


def main():
    vecs = [Vec(i % 3, 3 - i % 4) for i in range(6)]
    print(objects(vecs), vecs)
    bodies = [([0.0, 1.0], [0.5, 0.0]), ([2.0, 0.0], [0.0, 0.5]), ([1.0, 3.0], [0.1, 0.1])]
    pairs = [(bodies[i], bodies[j]) for i in range(3) for j in range(i + 1, 3)]
    advance(pairs, bodies, 3)
    grid = [[0, [5]], [[1, 2], 3]]
    lengths(grid)
    table = {"keys": ["a"], "n": 1, "vals": {"a": 0}}
    reshapes(table)
    print(twice([1, 2]))
    print(round(bodies[0][0][0], 6), table["n"], grid[1][0])


main()
