"""A module global rebound by a callee (STORE_GLOBAL) while its caller shows it."""

COUNTER = 0


def bump():
    global COUNTER
    COUNTER += 1


def watch():
    total = 0
    for _ in range(5):
        bump()
        total += COUNTER
    return total


if __name__ == "__main__":
    print(watch())
