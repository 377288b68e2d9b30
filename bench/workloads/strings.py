"""String building, formatting, splitting and replacing."""

from _timing import run


def work(n):
    words = []
    count = 0
    for i in range(n):
        s = f"item-{i:06d}:{i % 13}"
        parts = s.split(":")
        s = parts[0].replace("item", "it").upper() + "/" + parts[1]
        words.append(s)
        if len(words) >= 200:
            joined = ",".join(words)
            count += joined.count("IT") + len(joined.lower())
            words.clear()
    return count


run(work, 600_000)
