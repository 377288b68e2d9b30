"""Runs a little work for every line read from stdin; the test drives the recorder meanwhile."""

import sys


def work(round_no):
    total = 0
    for i in range(3):
        total += i * round_no
    return total


def main():
    print("ready", flush=True)
    results = []
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        results.append(work(len(results) + 1))
        print("done", results[-1], flush=True)
    print("bye", flush=True)


main()
