def add(a, b):
    total = a + b
    return total


def main():
    values = [1, 2, 3]
    result = add(values[0], values[1])
    for i in range(5):
        result += i
    print("result", result)
    try:
        raise ValueError("handled")
    except ValueError:
        pass
    return result


main()
