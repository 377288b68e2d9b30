"""A program that keeps running while the live tests change it: a consumer thread, an asyncio
loop on another thread, a main loop calling ``livemod.compute`` (which hot reload changes)."""

import asyncio
import os
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import livemod

CONFIG = {"threshold": 3, "limits": {"cpu": 1, "mem": 2}, "name": "app", "tags": ["a", "b"]}
COUNTS = [0, 0, 0]
PRICES = {"apple": 1.0, "pear": 2.0, "plum": 3.0}
INBOX: queue.Queue = queue.Queue()
FULL: queue.Queue = queue.Queue(maxsize=1)
FULL.put("occupied")
RECEIVED: list = []
AIO_RECEIVED: list = []
AQUEUE = None
LOOP = None
BIG = list(range(1000))
RESULTS: list = []


class Account:
    def __init__(self, owner, balance):
        self.owner = owner
        self.balance = balance
        self.limits = {"daily": 10, "monthly": 100}

    @property
    def doubled(self):
        COUNTS[1] += 1  # the tests check that inspecting never calls it
        return self.balance * 2

    def deposit(self, amount):
        self.balance += amount
        return self.balance

    def __repr__(self):
        return f"Account({self.owner!r}, {self.balance})"


class SlowRepr:
    def __repr__(self):
        while True:
            pass


ACCOUNTS = {"alice": Account("alice", 100), "bob": Account("bob", 50)}
ODD = SlowRepr()


def add(a, b):
    return a + b  # @add_body


def greet(name):
    print(f"hello {name}")
    print("warning!", file=sys.stderr)
    return f"hi {name}"


def spin(seconds):
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


async def async_add(a, b):
    await asyncio.sleep(0.01)
    print("async says hi")
    return a + b


async def async_slow():
    await asyncio.sleep(100)


def consumer():
    while True:
        RECEIVED.append(INBOX.get())


async def aconsumer():
    global AQUEUE
    AQUEUE = asyncio.Queue()
    while True:
        AIO_RECEIVED.append(await AQUEUE.get())


def run_loop():
    global LOOP
    LOOP = asyncio.new_event_loop()
    asyncio.set_event_loop(LOOP)
    LOOP.create_task(aconsumer(), name="aconsumer")
    LOOP.run_forever()


def main():
    threading.Thread(target=consumer, daemon=True, name="consumer").start()
    threading.Thread(target=run_loop, daemon=True, name="loop").start()
    while AQUEUE is None:
        time.sleep(0.01)
    print("ready", os.getpid(), flush=True)
    while True:
        RESULTS.append(livemod.compute(2))  # @main_call
        del RESULTS[:-5]
        COUNTS[0] += 1
        time.sleep(0.02)


if __name__ == "__main__":
    main()
