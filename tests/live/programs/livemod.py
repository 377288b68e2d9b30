"""The module the hot-reload tests edit while the program runs."""

FACTOR = 10
CACHE = {"hits": 0}


def compute(x):
    CACHE["hits"] += 1
    return x * FACTOR


def scaled(x, scale=2):
    return x * scale


class Greeter:
    def __init__(self, name):
        self.name = name

    def greet(self):
        return f"hello {self.name}"


GREETER = Greeter("world")


def make_counter():
    count = 0

    def bump():
        nonlocal count
        count += 1
        return count

    return bump


BUMP = make_counter()
