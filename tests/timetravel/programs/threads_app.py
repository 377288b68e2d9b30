import threading


def worker(n):
    acc = 0
    for k in range(n):
        acc += k  # @acc
    return acc


def main():
    t = threading.Thread(target=worker, args=(4,), name="worker-1")
    t.start()
    t.join()
    done = True
    return done


main()
