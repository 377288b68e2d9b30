def check(n):
    if n > 2:
        raise RuntimeError("n is too big: %d" % n)


for n in range(5):
    check(n)
