import sys


def fail(kind):
    if kind == "exit":
        sys.exit(3)
    raise RuntimeError("the program crashed")  # @crash


fail(sys.argv[1] if len(sys.argv) > 1 else "raise")
