"""Apply a batch of stores so that no other Python thread runs in between.

How: every mutation is first prepared as a list of *operations*, tuples
``(function, *args)`` whose function is implemented in C (``operator.setitem``,
``setattr``, ``dict.update``, ``list.__setitem__`` …), with every new value
computed beforehand.  ``apply(ops)`` then runs the whole list as ONE C-level
call: ``deque(starmap(operator.call, ops), maxlen=0)``.  No bytecode executes
between two operations, so the interpreter never reaches a point where it
would hand the GIL to another thread: other threads see all of the batch or
none of it.

What could still run Python code in the middle, and what we do about it:

- the garbage collector (an allocation may trigger a collection that runs
  ``__del__`` methods): disabled for the duration of the batch;
- deallocating a replaced value (``__del__``, weakref callbacks): the caller
  keeps a reference to every old value (the backup) until after the batch;
- the program's own ``__setattr__``, ``__setitem__``, property setters and
  ``__hash__``/``__eq__`` of its keys: these run Python code, so the switch
  interval is raised to an hour for the batch; another thread then gets the
  GIL only if that code blocks (I/O, a lock, ``time.sleep``), which a setter
  should not do.  Plain dicts, lists and instance attributes run no such code.

On free-threaded builds (no GIL) none of this holds; the agent does not
claim atomicity there (``ATOMIC`` is False).
"""

from __future__ import annotations

import collections
import gc
import itertools
import operator
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

ATOMIC = not (hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled())
HOLD_INTERVAL = 3600.0

_lock = threading.Lock()  # one batch at a time (switch interval and gc state are process-wide)


@contextmanager
def exclusive() -> Iterator[None]:
    """Around a batch: gc off, a long switch interval; restored afterwards."""
    with _lock:
        interval = sys.getswitchinterval()
        gc_enabled = gc.isenabled()
        gc.disable()
        sys.setswitchinterval(HOLD_INTERVAL)
        try:
            yield
        finally:
            sys.setswitchinterval(interval)
            if gc_enabled:
                gc.enable()


def apply(ops: Sequence[tuple[Any, ...]]) -> None:
    """Run every operation, in order, as one C-level step.

    If an operation raises, the ones before it have been applied: callers
    that need all-or-nothing pass ``undo`` operations to ``apply_or_undo``.
    """
    if not ops:
        return
    with exclusive():
        collections.deque(itertools.starmap(operator.call, ops), maxlen=0)


def apply_or_undo(ops: Sequence[tuple[Any, ...]], undo: Sequence[tuple[Any, ...]]) -> None:
    """Apply ``ops``; if one fails, apply ``undo`` (which restores the state before) and raise."""
    try:
        apply(ops)
    except BaseException:
        apply(undo)
        raise
