"""Dict and list churn: build, update, delete, sort."""

from _timing import run


def work(n):
    table = {}
    items = []
    for i in range(n):
        key = (i * 7919) % (n // 3 + 1)
        table[key] = table.get(key, 0) + i
        items.append(i % 97)
        if len(items) > 512:
            items.sort()
            del items[::2]
        if i % 5 == 0 and key in table:
            del table[key]
    return [len(table), sum(items)]


run(work, 1_000_000)
