"""The program of the experiment tests.

``python shop_app.py record``: calls ``total`` on a few carts (recorded by the tests).
``python shop_app.py serve``: prints "ready", then calls ``handle`` and ``total`` in a loop
on a thread until killed; ``SEEN`` maps each argument of ``handle`` to the result types seen.
"""

import array
import sys
import threading
import time

RATES = {"EUR": 1.0, "USD": 1.25, "GBP": 0.5}


def fetch_rate(currency):  # a dependency the tests mock, stub and spy
    return RATES[currency]


def total(prices, currency="EUR"):  # the experiment's target: quadratic on purpose
    s = 0
    for i in range(len(prices)):
        s += sum(prices[: i + 1]) - sum(prices[:i])
    return round(s * fetch_rate(currency), 2)


def handle(n):  # the canary's target
    return n * 2


def refund(amount):  # never called
    return -amount


class Cart:
    def __init__(self, prices):
        self.prices = list(prices)

    def total(self, currency="EUR"):  # a method calling the module's total()
        return total(self.prices, currency)


ORIGINAL_TOTAL = total
ORIGINAL_HANDLE = handle
ORIGINAL_FETCH = fetch_rate
SEEN = {}
CALLS = {"handle": 0, "errors": 0}


def carts():
    yield [120, 250, 999] * 20, "EUR"
    yield list(range(1, 61)), "USD"
    yield [5] * 50, "GBP"
    yield [1, 2, 3], "USD"


def record():
    for prices, currency in carts():
        total(prices, currency)
    total(array.array("l", [1, 2, 3]), "EUR")  # not a literal: cannot be reconstructed
    total([1, 2, 3], "USD")  # the same call again: kept once


def serve():
    def loop():
        i = 0
        while True:
            n = i % 50
            try:
                result = handle(n)
                SEEN.setdefault(n, set()).add(type(result).__name__)
            except Exception:  # noqa: BLE001  (a canary's variant may fail)
                CALLS["errors"] += 1
            CALLS["handle"] += 1
            if i % 10 == 0:
                cart = [(i + k) % 97 for k in range(8)]
                total(cart, "USD" if i % 20 else "EUR")
            i += 1
            time.sleep(0.0005)

    threading.Thread(target=loop, name="serve", daemon=True).start()
    print("ready", flush=True)
    while True:
        time.sleep(0.5)


if __name__ == "__main__":
    record() if sys.argv[1:] == ["record"] else serve()
