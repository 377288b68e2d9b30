"""Raises an uncaught ValueError."""


def parse(text):
    return int(text)  # @raise


def main():
    values = ["1", "2", "oops"]
    return [parse(v) for v in values]


main()
