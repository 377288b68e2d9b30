"""Containers that only one frame's local refers to (private values: a step need not compare
them after a line that does not name them), and every way such a value stops being private
while lines that call functions run around it: an alias made by a line that calls nothing,
an alias kept by a callee, the same list in two locals, an iterator over it, a value moved
into another container, a tuple holding a list, nested containers, generators and a
second thread (private_skips_app: the steps where the shortcut counts)."""

import threading

KEPT = []


def noop(*args):
    return len(args)


def keep(value):
    KEPT.append(value)


def change_kept():
    KEPT[-1].append("changed through KEPT")


def grow(row):
    row.append(len(row))


def private_grid():
    grid = [[0] * 3 for _ in range(3)]
    total = noop()
    total += noop(1)
    grid[1][2] = 5
    total += noop(2, 3)
    grid.append([7])
    total += noop()
    return grid, total


def alias_without_call():
    grid = [[1, 2], [3, 4]]
    noop()
    row = grid[0]
    noop()
    grow(row)
    noop()
    grow(row)
    return grid


def alias_kept_by_callee():
    data = {"a": [1], "b": 2}
    noop()
    keep(data["a"])
    noop()
    change_kept()
    noop()
    change_kept()
    return data


def whole_value_kept():
    items = [1, 2]
    noop()
    keep(items)
    noop()
    change_kept()
    noop()
    return items


def two_locals():
    a = [1]
    b = a
    noop()
    grow(b)
    noop()
    return a


def iterated():
    seen = [0, 1, 2]
    out = []
    for x in seen:
        noop(x)
        if x == 1:
            grow(seen)
            noop()
        if len(seen) > 5:
            break
    out.append(len(seen))
    return out


def moved_into_another():
    inner = [1]
    outer = {"k": inner}
    noop()
    del inner
    noop()
    grow(outer["k"])
    noop()
    return outer


def tuple_with_list():
    pair = ([1], 2)
    noop()
    grow(pair[0])
    noop()
    holder = [pair]
    noop()
    grow(holder[0][0])
    noop()
    return pair


def nested_sets():
    s = {1, 2}
    d = {"s": s, "l": [frozenset({3})]}
    del s
    noop()
    d["l"].append(4)
    noop()
    d["s"].add(9)
    noop()
    return d


def generator(n):
    acc = []
    for i in range(n):
        acc.append(i)
        noop()
        yield len(acc)
        noop()
    acc.clear()
    noop()
    yield 0


class Worker(threading.Thread):
    def __init__(self, shared):
        super().__init__()
        self.shared = shared

    def run(self):
        for _ in range(3):
            self.shared[0].append("thread")

    def __repr__(self):
        return "Worker()"


def with_thread():
    box = [[]]
    noop()
    t = Worker(box)
    noop()
    t.start()
    t.join()
    noop()
    return box


def main():
    print(private_grid())
    print(alias_without_call())
    print(alias_kept_by_callee())
    print(whole_value_kept())
    print(two_locals())
    print(iterated())
    print(moved_into_another())
    print(tuple_with_list())
    print(nested_sets())
    print(list(generator(3)))
    print(with_thread())


if __name__ == "__main__":
    main()
