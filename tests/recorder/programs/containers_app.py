"""Containers changed item by item, nested, grown, shrunk, replaced, self-referencing."""


def lists():
    a = [1, 2, 3]
    a[1] = 20
    a.append(4)
    a.pop(0)
    a.insert(0, 0)
    a.extend([5, 6])
    del a[2:4]
    a.sort(reverse=True)
    a.clear()
    a += [1.5, 2.5]
    a[0] += 1.0
    a[0] -= 1.0
    return a


def nested():
    grid = [[0, 0], [0, 0], [0, 0]]
    row = grid[1]
    row[0] = 7
    grid[2][1] = 9
    grid[0] = [1, 2, 3]
    grid.append(grid[0])
    grid[0].append(4)
    deep = [[[[1]]]]
    deep[0][0][0].append(2)
    deep[0][0].append([3])
    pairs = [(grid[1], "x"), (grid[2], "y")]
    grid[1][1] = 8
    return grid, pairs, deep


def dicts():
    d = {"a": 1, "b": [1, 2]}
    d["a"] = 2
    d["c"] = 3
    d["b"].append(3)
    del d["a"]
    d["a"] = 1
    d.update({"c": {"x": 1}})
    d["c"]["x"] = 2
    d["c"]["y"] = [1]
    d["c"]["y"].append(2)
    d.pop("b")
    keys = {(1, 2): "t", 3: None}
    keys[(1, 2)] = "u"
    return d, keys


def sets():
    s = {1, 2, 3}
    s.add(4)
    s.discard(1)
    s |= {10, 20}
    f = frozenset(s)
    s.clear()
    nested = [s, f, {5}]
    s.add(5)
    return nested


def recursive():
    r = [1]
    r.append(r)
    r[0] = 2
    holder = {"self": None}
    holder["self"] = holder
    holder["n"] = 1
    holder["n"] += 1
    wrap = [r, holder]
    r.append(3)
    return wrap


def growing():
    big = []
    for i in range(80):
        big.append(i * i)
    big[70] = -1
    big[3] = -3
    while len(big) > 60:
        big.pop()
    words = {}
    for i in range(70):
        words[f"k{i}"] = i
    words["k2"] = "two"
    return len(big), len(words)


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __repr__(self):
        return f"Point({self.x}, {self.y})"


def objects():
    pts = [Point(0, 0), Point(1, 1)]
    pts[0].x = 5
    pts.append(Point(2, 2))
    mixed = (pts, {"p": pts[1]}, [None, True, 1.5, b"x", 2j, "s"])
    pts[1].y = 9
    mixed[2][0] = "now"
    return mixed


def swap():
    a = [1, 2]
    b = [3, 4]
    a, b = b, a
    a[0] = 30
    t = (a, b)
    t[0].append(5)
    a = (1, 2)
    a = [1, 2]
    return t


print(lists())
print(nested())
print(dicts())
print(sets())
print(recursive())
print(growing())
print(objects())
print(swap())
