"""Runs until interrupted, with a worker thread."""
import threading
import time

stop = threading.Event()


def worker():
    while not stop.is_set():
        time.sleep(0.01)


thread = threading.Thread(target=worker, name="worker")
thread.start()
rounds = 0
print("spinning", flush=True)
while rounds >= 0:
    rounds += 1  # @spin
    time.sleep(0.001)
stop.set()
