"""asyncio: tasks, gather, sleep(0), async generators, async with."""
import asyncio


class Resource:
    def __init__(self):
        self.state = "new"

    async def __aenter__(self):
        self.state = "open"
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc):
        self.state = "closed"


async def ticker(n):
    for i in range(n):
        yield i
        await asyncio.sleep(0)


async def job(name, n):
    seen = []
    async for i in ticker(n):
        seen.append((name, i))
    return seen


async def main():
    async with Resource() as r:
        results = await asyncio.gather(job("a", 2), job("b", 3))
    t = asyncio.create_task(job("c", 1))
    last = await t
    return results, last, r.state


print(asyncio.run(main()))
