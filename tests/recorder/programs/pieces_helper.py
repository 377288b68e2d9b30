"""A module of the program, imported by pieces_app: its functions are called as
`pieces_helper.grow(...)`, which Python 3.13 compiles as an attribute load and a call."""


def grow(lst, n):
    for i in range(n):
        lst.append(i)


def size(lst):
    return len(lst)


STYLE = "plain"


class Tag:
    """Its repr reads a global of this module, which restyle() rebinds."""

    def __init__(self, v):
        self.v = v

    def __repr__(self):
        return "Tag(%s, %r)" % (STYLE, self.v)


def restyle(style):
    global STYLE
    STYLE = style
