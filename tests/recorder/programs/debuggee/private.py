"""A list only main's frame refers to, changed from the debug console while stopped."""


def noop():
    return 0


def main():
    data = [1, 2]
    noop()  # @stop
    noop()  # @after
    noop()
    print(data)


main()
