"""The same object shown again after a change its repr shows: a class with __slots__
(whose attributes the change detection does not read) and one with an instance dict."""


class Slotted:
    __slots__ = ("a",)

    def __init__(self):
        self.a = 1

    def __repr__(self):
        return f"Slotted({self.a})"


class Plain:
    def __init__(self):
        self.a = 1

    def __repr__(self):
        return f"Plain({self.a})"


def bump(obj):
    obj.a += 1
    return obj


s, p = Slotted(), Plain()
for _ in range(3):
    bump(s)
    bump(p)
print(s, p)
