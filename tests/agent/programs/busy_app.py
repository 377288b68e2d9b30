"""Sample program for discovery: threads, asyncio tasks, a child process, module-level state."""

import asyncio
import functools
import subprocess
import sys
import threading

import app_helpers

REGISTRY = {f"key{i}": i for i in range(5000)}
RECENT = [str(i) for i in range(300)]


@functools.lru_cache(maxsize=64)
def cached_square(x):
    return x * x


for _i in range(10):
    cached_square(_i % 3)  # 3 misses, 7 hits


def worker_loop(stop):
    while not stop.wait(0.05):  # @worker
        pass


def crunch(stop):
    total = 0
    while not stop.is_set():  # busy: holds the GIL most of the time
        for i in range(10000):
            total += i * i  # @crunch
    return total


async def consumer(queue):
    return await queue.get()


async def sleeper():
    await asyncio.sleep(3600)


async def waiter(task):
    await task


def side_loop():
    """A second event loop, in its own thread: one task gathers two others."""

    async def ticker():
        while True:
            await asyncio.sleep(0.05)

    async def side_main():
        a = asyncio.create_task(ticker(), name="ticker-a")
        b = asyncio.create_task(ticker(), name="ticker-b")
        await asyncio.gather(a, b)

    asyncio.run(side_main())


async def main():
    stop = threading.Event()
    threading.Thread(target=side_loop, name="aio-side", daemon=True).start()
    threading.Thread(target=worker_loop, args=(stop,), name="worker-1", daemon=True).start()
    threading.Thread(target=crunch, args=(stop,), name="cruncher", daemon=True).start()
    queue = asyncio.Queue()
    asyncio.create_task(consumer(queue), name="consumer")
    sleeper_task = asyncio.create_task(sleeper(), name="sleeper")
    asyncio.create_task(waiter(sleeper_task), name="waiter")
    # the child lives as long as our end of its stdin pipe
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    print("READY", child.pid, app_helpers.describe(), flush=True)
    await asyncio.sleep(120)  # never outlive a crashed test for long
    stop.set()


asyncio.run(main())
