"""Module globals rebound inside functions (``global``), while main never reads them."""
COUNTER = 0
LABEL = "start"


def bump(n):
    global COUNTER
    COUNTER += n  # @bump
    return n  # @bumped


def reset(label):
    global COUNTER, LABEL
    COUNTER = 100  # @reset
    LABEL = label


def main():
    total = 0
    for k in range(2):
        bump(k + 1)  # @call
        total += k  # @after_call
    reset("reset")
    total += 1  # @after_reset
    return total


main()
