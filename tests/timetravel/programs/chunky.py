"""Slow enough that the recorder writes several chunks (one every 100 ms)."""
import time


def step(state, k):
    state["n"] = state.get("n", 0) + k
    if k % 5 == 4:
        try:
            raise KeyError(k)
        except KeyError:
            state["caught"] = k
    return state["n"]


def main():
    state = {}
    total = 0
    for k in range(40):
        total += step(state, k)
        label = f"k{k % 3}"
        time.sleep(0.012)
    return total, label


main()
