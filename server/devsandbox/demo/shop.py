"""A small order-processing program, debugged by `devsandbox demo`."""

import asyncio
import functools
import queue
import threading
import time

PRICES = {"apple": 0.5, "bread": 2.25, "cheese": 7.0, "dates": 4.5}
ORDERS = []
audit_log = queue.Queue()


@functools.lru_cache(maxsize=128)
def unit_price(item):
    return PRICES[item]


def order_total(items, discount):
    total = 0.0
    for item, count in items:
        total += unit_price(item) * count  # @total
    total = total * (1 - discount)  # @discount
    return round(total, 2)


def auditor(stop):
    while not stop.is_set():
        try:
            entry = audit_log.get(timeout=0.05)
        except queue.Empty:
            continue
        ORDERS.append(entry)


async def heartbeat(stop):
    beats = 0
    while not stop.is_set():
        beats += 1
        await asyncio.sleep(0.05)
    return beats


def run_loop(stop):
    async def main():
        await asyncio.gather(asyncio.create_task(heartbeat(stop), name="heartbeat"))

    asyncio.run(main())


def main():
    stop = threading.Event()
    threading.Thread(target=auditor, args=(stop,), name="auditor").start()
    threading.Thread(target=run_loop, args=(stop,), name="event-loop").start()
    basket = [("apple", 4), ("bread", 1), ("cheese", 2)]
    first = order_total(basket, discount=0.1)
    audit_log.put(("first", first))
    print("first order:", first)
    second = order_total(basket * 2, discount=0.25)
    audit_log.put(("second", second))
    print("second order:", second)
    time.sleep(float(__import__("os").environ.get("SHOP_LINGER", "0")))
    stop.set()


if __name__ == "__main__":
    main()
