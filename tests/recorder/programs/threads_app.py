"""threading threads and a raw _thread thread, each with its own work.

(The main thread's locals never show another thread's changing state, so
that every thread's events are deterministic.)"""
import _thread
import threading


def work(name, n):
    acc = []
    for i in range(n):
        acc.append(i * i)
    return name, sum(acc)


class Worker(threading.Thread):
    def __init__(self, name, n):
        super().__init__(name=name)
        self.n = n
        self.result = None

    def run(self):
        self.result = work(self.name, self.n)

    def __repr__(self):
        return f"Worker({self.name!r})"


class Group:
    def __init__(self, workers):
        self.workers = workers

    def __repr__(self):
        return f"Group({len(self.workers)})"


def raw(done, box):
    total = 0
    for i in range(5):
        total += i
    box.append(total)
    done()


def main():
    group = Group([Worker(f"worker-{i}", 5 + i) for i in range(3)])
    list(map(threading.Thread.start, group.workers))
    list(map(threading.Thread.join, group.workers))
    results = [w.result for w in group.workers]
    lock = _thread.allocate_lock()
    lock.acquire()
    box = []
    _thread.start_new_thread(raw, (lock.release, box))
    lock.acquire()
    return results, box


print(main())
