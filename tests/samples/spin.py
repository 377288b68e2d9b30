import time

deadline = time.time() + 60


def spin():
    count = 0
    while time.time() < deadline:
        count += 1  # @spin_body
        time.sleep(0.01)
    return count


spin()
