"""Spins until released: the test pauses the program here and releases it with setVariable."""

import os
import time


def wait_for_release():
    released = bool(os.environ.get("SPIN_FREE"))
    while not released:
        time.sleep(0.005)  # @spin_sleep
    return released
