"""A loop with a call, in-place mutation and a caught exception, ending in an uncaught one."""


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __repr__(self):
        return f"Point(x={self.x!r}, y={self.y!r})"


def square(x):
    y = x * x
    return y


def check(n):
    if n > 2:
        raise ValueError(f"too big {n}")
    return n


def main():
    total = 0
    items = []
    p = Point(0, 0)
    for i in range(5):
        total += square(i)  # @call
        items.append(i)
        p.x = total  # @move
    try:
        check(3)
    except ValueError as e:
        msg = str(e)
    print(total, items, p, msg)
    check(total)  # @boom


main()
