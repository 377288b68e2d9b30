"""Run as `python -m pkg.tool ARGS`."""
import sys


def run(args):
    message = "tool got " + " ".join(args)  # @tool-body
    print(message)
    return len(args)


sys.exit(run(sys.argv[1:]))
