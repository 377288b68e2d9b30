import sys


def accumulate(n):
    total = 0
    for i in range(n):
        total += i  # @loop_body
    return total  # @loop_return


def helper(x):
    y = x * 2  # @helper_first
    return y  # @helper_return


def skip_demo():
    x = 1  # @x1
    x = 2  # @x2
    return x  # @xret


def main():
    first = helper(1)  # @call_helper
    values = [helper(k) for k in range(3)] + [first]
    result = accumulate(10)  # @after_helper
    print("result", result)  # @print
    print("skip", skip_demo())
    try:
        raise ValueError("boom")  # @raise
    except ValueError:
        pass
    return values


if __name__ == "__main__":
    main()
    sys.exit(0)
