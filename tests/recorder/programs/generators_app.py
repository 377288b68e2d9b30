"""Generators: yield, yield from, send, throw, close, generator expressions."""


def count(n):
    for i in range(n):
        got = yield i
        if got is not None:
            n += got


def delegate():
    result = yield from count(2)
    yield "after"
    return result


def accumulator():
    total = 0
    try:
        while True:
            value = yield total
            total += value
    except GeneratorExit:
        total = -1
        raise


def thrower():
    try:
        yield 1
    except KeyError as exc:
        yield f"caught {exc!r}"


def main():
    out = list(count(3))
    g = count(2)
    out.append(next(g))
    out.append(g.send(1))
    out.append(list(delegate()))
    acc = accumulator()
    next(acc)
    acc.send(5)
    acc.send(7)
    acc.close()
    t = thrower()
    next(t)
    out.append(t.throw(KeyError("k")))
    out.append(sum(x * 2 for x in range(4)))
    return out


print(main())
