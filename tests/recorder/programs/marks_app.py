"""Exceptions caught where they are handled, and steps of asyncio tasks."""

import asyncio


def risky(n):
    if n > 1:
        raise ValueError(n)
    return n


def handler():
    total = 0
    for n in range(3):
        try:
            total += risky(n)
        except ValueError:  # @except
            total -= 1
    return total


def stop_iteration_is_not_an_error():
    return sum(x for x in range(3))


async def worker(name, steps):
    acc = 0
    for i in range(steps):
        acc += i
        await asyncio.sleep(0)
    return acc


async def main():
    first = asyncio.create_task(worker("a", 3), name="alpha")
    second = asyncio.create_task(worker("b", 3), name="beta")
    return await asyncio.gather(first, second)


print(handler(), stop_iteration_is_not_an_error())
print(asyncio.run(main()))
