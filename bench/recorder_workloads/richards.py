"""A small task scheduler with objects and attribute updates, written for DevSandbox's bench."""


class Task:
    def __init__(self, name, priority, work):
        self.name = name
        self.priority = priority
        self.work = work
        self.done = 0
        self.queue = []

    def run(self, scheduler):
        if self.work <= 0:
            return False
        self.work -= 1
        self.done += 1
        if self.done % 3 == 0 and self.queue:
            scheduler.wake(self.queue.pop())
        return True


class Scheduler:
    def __init__(self, tasks):
        self.ready = sorted(tasks, key=lambda t: -t.priority)
        self.waiting = []
        self.steps = 0

    def wake(self, task):
        self.waiting.append(task)

    def run(self):
        while self.ready:
            task = self.ready.pop(0)
            self.steps += 1
            if task.run(self):
                self.ready.append(task)
            while self.waiting:
                self.ready.append(self.waiting.pop())
        return self.steps


tasks = [Task(f"t{i}", i % 5, 400 + i * 7) for i in range(30)]
for i, t in enumerate(tasks):
    t.queue = [Task(f"c{i}.{k}", k, 20) for k in range(3)]
Scheduler(tasks).run()
