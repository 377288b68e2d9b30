import sys


def run(args):
    count = len(args)  # @module_line
    print("module args", args)
    return count


run(sys.argv[1:])
