"""A private list (only one frame's local refers to it) changed by code that does not name
it: a callee reaching it through its caller's frame, and eval() of a string.  Code that
names frame introspection turns the recorder's private-value shortcut off."""

import sys


def noop():
    return 0


def poke():
    sys._getframe(1).f_locals["data"].append("poked")


def main():
    data = [1]
    noop()
    poke()
    noop()
    eval("data.append('evaluated')")
    noop()
    print(data)


if __name__ == "__main__":
    main()
