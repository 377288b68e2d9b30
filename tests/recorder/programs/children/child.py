import sys


def square(n):
    return n * n


print("child", square(int(sys.argv[1])))
