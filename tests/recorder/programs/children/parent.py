"""Starts a child Python process and a forked one; each is recorded into its own file."""

import multiprocessing
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def forked(n):
    total = 0
    for i in range(n):
        total += i
    print("forked", total, flush=True)


def main():
    out = subprocess.run([sys.executable, os.path.join(HERE, "child.py"), "3"],
                         capture_output=True, text=True, check=True).stdout
    print(out.strip(), flush=True)
    if hasattr(os, "fork"):
        p = multiprocessing.get_context("fork").Process(target=forked, args=(4,))
        p.start()
        p.join()
    print("parent done", flush=True)


if __name__ == "__main__":
    main()
