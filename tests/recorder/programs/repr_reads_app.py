"""Classes whose __repr__ shows only some of their attributes (the recorder then compares
only those), and reprs that read further into the objects their attributes lead to."""

from dataclasses import dataclass


class Cell:
    def __init__(self, board, pos):
        self.board = board
        self.pos = pos
        self.color = "."
        self.seen = []

    def __repr__(self):
        return f"Cell{divmod(self.pos, 3)}"


class Board:
    def __init__(self):
        self.cells = [Cell(self, i) for i in range(6)]
        self.moves = 0

    def __repr__(self):
        # reads each cell's color: a change of a cell is a change of the board
        return "".join([cell.color for cell in self.cells])


class Tagged:
    kind = "plain"  # a class attribute, later shadowed by an instance attribute

    def __init__(self, value):
        self.value = value
        self.notes = {}

    def __repr__(self):
        return f"Tagged({self.kind}, {self.value!r})"


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = 1
        self.b = 2

    def __repr__(self):
        return f"Slotted({self.a})"


class SlottedBase:
    __slots__ = ("a",)


class Mixed(SlottedBase):  # a slot of its base, and an instance dict
    def __init__(self):
        self.a = 1
        self.b = 2

    def __repr__(self):
        return f"Mixed({self.a}, {self.b})"


class Computed:
    def __init__(self):
        self.items = []

    @property
    def size(self):
        return len(self.items)

    def __repr__(self):
        return f"Computed({self.size})"


@dataclass
class Point:
    x: int
    y: list


def play(board, cell, color):
    cell.color = color
    cell.seen.append(color)
    board.moves += 1
    return cell


def game():
    board = Board()
    first = board.cells[0]
    for i, color in enumerate("xoxo"):
        cell = play(board, board.cells[i], color)
    first.pos = 5
    first.board = None
    late = board.cells[4]
    late.extra = "added after creation"
    late.pos = 1
    return board, cell, late


def tags():
    t = Tagged(1)
    t.notes["a"] = 1
    t.value = [1]
    t.value.append(2)
    t.kind = "own"
    del t.kind
    t.kind = "again"
    del t.value
    return t


def slots_and_more():
    s = Slotted()
    s.b = 20
    s.a = 10
    del s.a
    c = Computed()
    c.items.append(1)
    c.items.append(2)
    m = Mixed()
    m.a = 5
    m.b = 6
    m.c = 7
    p = Point(1, [])
    p.y.append(3)
    p.x = 2
    return s, c, p


print(game())
print(type(tags()).__name__)
print(slots_and_more()[1:])
