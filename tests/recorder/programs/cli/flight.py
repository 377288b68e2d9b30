import time


def step(n):
    total = 0
    for k in range(n):
        total += k
    return total


for n in range(400):
    step(n)
    if n % 20 == 0:
        time.sleep(0.02)
raise RuntimeError("crash at the end")
