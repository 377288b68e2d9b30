"""A small program for the terminal debugger's tests; `# @name` marks lines tests refer to."""
import sys


def square(x):
    y = x * x  # @square-body
    return y


def main(n):
    total = 0
    for i in range(n):
        total += square(i)  # @loop-call
        print(f"step {i} total {total}")  # @loop-print
    print("done", total, file=sys.stderr)
    return total


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    result = main(count)
    sys.exit(result % 10)  # @exit
