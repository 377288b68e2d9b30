"""Values replaced by values made at the same address.  CPython keeps freed floats, tuples and
small objects on free lists: `x = x + d` twice puts the new value where the one before last
was.  A caller's step that comes after its callee changed an attribute, an item or a tuple an
even number of times finds every address as it was, with other values behind them; objects of
a class made and dropped in turn also land on the addresses of the ones before.  The fidelity
tests check that each step shows the values, not the addresses."""


class Body:
    def __init__(self, x, v):
        self.x = x
        self.v = v

    def __repr__(self):
        return "Body(%r, %r)" % (self.x, self.v)


class Plain:
    def __init__(self, n):
        self.n = n
        self.w = n / 2


def advance(body, dt, steps):
    for _ in range(steps):
        body.x = body.x + body.v * dt


def bump_items(values, k):
    for _ in range(k):
        values[0] = values[0] + 0.5
        values[1] = (values[1][0] + 1.0, values[1][1])


def orbit(body):
    advance(body, 0.1, 2)
    seen = body.x
    advance(body, 0.1, 4)
    seen2 = body.x
    return seen, seen2


def items():
    values = [1.0, (2.0, "t"), "end"]
    same = values
    bump_items(values, 2)
    first = values[0]
    bump_items(same, 2)
    return first, values


def made_in_turn():
    shown = []
    for i in range(6):
        p = Plain(float(i))
        q = Body(float(i), 1.0)
        shown.append(p.w + q.x)
    return shown


def main():
    body = Body(1.0, 2.0)
    print("orbit", orbit(body), body)
    print("items", items())
    print("made", made_in_turn())


if __name__ == "__main__":
    main()
