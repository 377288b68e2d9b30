"""Spectral norm (function calls, float arithmetic), written for DevSandbox's bench."""


def a(i, j):
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)


def mul_av(v, out):
    n = len(v)
    for i in range(n):
        s = 0.0
        for j in range(n):
            s += a(i, j) * v[j]
        out[i] = s


def mul_atv(v, out):
    n = len(v)
    for i in range(n):
        s = 0.0
        for j in range(n):
            s += a(j, i) * v[j]
        out[i] = s


def norm(n):
    u = [1.0] * n
    v = [0.0] * n
    tmp = [0.0] * n
    for _ in range(4):
        mul_av(u, tmp)
        mul_atv(tmp, v)
        mul_av(v, tmp)
        mul_atv(tmp, u)
    return sum(x * y for x, y in zip(u, v))


norm(60)
