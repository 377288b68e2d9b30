import sys

import devsandbox


def before(x):
    return x + 1


def inside(x):
    y = x * 2
    return y


before(1)
with devsandbox.recording(out=sys.argv[1], include=[__file__]):
    inside(5)
before(2)
print("ok")
