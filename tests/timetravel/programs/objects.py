"""Objects with the default repr, changed through their attributes (time-travel tests)."""


class Counter:
    def __init__(self):
        self.count = 0
        self.log = []

    def bump(self, by):
        self.count += by  # @bump
        self.log.append(by)
        return self.count


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = 1


def main():
    c = Counter()
    s = Slotted()
    for by in (1, 2, 3):
        c.bump(by)
        snapshot = (c.count, list(c.log), s.a)  # the program's own account of its state
        s.a = by * 10  # @check
    s.b = "done"
    return c  # @end


main()
