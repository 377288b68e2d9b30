"""The workspace watcher behind hot reload: watchdog observes directories, we debounce.

Editors save in bursts (write, truncate, rename a temporary file over the
original), so each path gets a timer: the callback runs ``debounce`` seconds
after the last event for it, once, and only if the file changed since the
last time: its (mtime, size) first, then a hash of its content (a second event
for one save, or touching a file, does nothing).  Only ``.py`` files count.  watchdog's thread only
posts to the asyncio loop; everything else happens on the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger(__name__)

OnChange = Callable[[str], Awaitable[None]]


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if path and path.endswith(".py"):
                self.watcher.post(path)


class Watcher:
    def __init__(self, directories: list[str], on_change: OnChange, debounce: float = 0.2) -> None:
        self.directories = sorted({os.path.realpath(d) for d in directories})
        self.on_change = on_change
        self.debounce = debounce
        self._loop = asyncio.get_running_loop()
        self._observer: Any = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._seen: dict[str, tuple[tuple[int, int], str]] = {}  # path -> (stamp, digest)
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        observer = Observer()
        handler = _Handler(self)
        for directory in self.directories:
            observer.schedule(handler, directory, recursive=True)
            self._remember_tree(directory)
        observer.daemon = True
        observer.start()
        self._observer = observer
        log.info("watching %s", ", ".join(self.directories))

    def _remember_tree(self, directory: str) -> None:
        """Record the current state of the files, so that a first event without a change is a
        no-op too (capped: a huge tree is compared from its first change on)."""
        count = 0
        for root, dirs, files in os.walk(directory):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    state = _state(path)
                    if state is not None:
                        self._seen[os.path.realpath(path)] = state
                    count += 1
                    if count > 5000:
                        return

    def post(self, path: str) -> None:
        """Called on watchdog's thread."""
        try:
            self._loop.call_soon_threadsafe(self._touch, os.path.realpath(path))
        except RuntimeError:  # the loop is closed
            pass

    def _touch(self, path: str) -> None:
        timer = self._timers.pop(path, None)
        if timer is not None:
            timer.cancel()
        self._timers[path] = self._loop.call_later(self.debounce, self._fire, path)

    def _fire(self, path: str) -> None:
        self._timers.pop(path, None)
        stamp = _stamp(path)
        seen = self._seen.get(path)
        if stamp is None or (seen is not None and seen[0] == stamp):
            return
        state = _state(path)
        if state is None:
            return
        self._seen[path] = state
        if seen is not None and seen[1] == state[1]:
            return  # touched, or saved unchanged
        task = self._loop.create_task(self._run(path))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, path: str) -> None:
        try:
            await self.on_change(path)
        except Exception:
            log.exception("hot reload of %s failed", path)

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
            self._observer = None


def _state(path: str) -> tuple[tuple[int, int], str] | None:
    stamp = _stamp(path)
    try:
        with open(path, "rb") as f:
            digest = hashlib.sha1(f.read(), usedforsecurity=False).hexdigest()
    except OSError:
        return None
    return (stamp, digest) if stamp is not None else None


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
