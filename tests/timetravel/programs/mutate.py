"""Containers changed in place, item by item: recorded with --item-diffs, ITEMS records."""


def grow(n):
    acc = []
    for k in range(n % 5):
        acc.append(k * n)  # @grow
    return acc


def main():
    xs = []
    table = {}
    grid = [[0] * 3 for _ in range(3)]
    seen = set()
    for i in range(120):
        xs.append(i)  # @append
        table[i % 7] = [i] * 2
        table[i % 7].append(-i)
        grid[i % 3][i % 2] += 1
        seen.add(i % 5)
        if i % 10 == 9:
            del xs[0]
            table.pop(i % 7)
        table.setdefault(i % 7, []).extend(grow(i))
    return len(xs), len(table), grid, sorted(seen)


main()
