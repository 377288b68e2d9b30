"""In-place mutation seen from the caller: list.append, dict updates,
attribute assignment, nested containers, sort, set.add, bytearray."""


class Box:
    def __init__(self):
        self.items = []
        self.count = 0

    def put(self, x):
        self.items.append(x)
        self.count += 1

    def __repr__(self):
        return f"Box({self.items!r}, count={self.count})"


def fill(lst, d, box):
    lst.append(len(lst))
    d[len(d)] = "v"
    box.put(lst[-1])


def main():
    lst = [3, 1, 2]
    d = {}
    box = Box()
    grid = [[0, 0], [0, 0]]
    seen = set()
    buf = bytearray(b"ab")
    for i in range(3):
        fill(lst, d, box)
        grid[i % 2][0] += 1
        seen.add(i % 2)
        buf.append(65 + i)
    lst.sort()
    d.update({"x": lst})
    d.pop(0)
    box.items[0] = "first"
    return lst, d, box, grid, seen, buf


print(main())
