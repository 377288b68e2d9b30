import sys


def greet(who):
    message = "hello " + who  # @child_line
    return message


print(greet(sys.argv[1]))
