"""A private table (only this frame's local refers to it) and eight lines that call C code
the recorder knows nothing of: each step after one compares every local but the table
(tests/recorder/test_private.py counts them)."""

import operator


def after_unknown_c_calls():
    table = [[0] * 3 for _ in range(3)]
    n = operator.add(0, 1)
    n = operator.add(n, 1)
    n = operator.add(n, 1)
    n = operator.add(n, 1)
    table[0][0] = n
    n = operator.add(n, 1)
    n = operator.add(n, 1)
    n = operator.add(n, 1)
    n = operator.add(n, 1)
    return table, n


if __name__ == "__main__":
    print(after_unknown_c_calls())
