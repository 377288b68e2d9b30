"""A program that stops at a breakpoint in a named thread."""

import threading


def handler(n):
    total = n * 2
    return total  # @bp


def serve():
    for i in range(3):
        handler(i)


t = threading.Thread(target=serve, name="request-handler")
t.start()
t.join()
