"""Export a recording as JSON lines: one object per event (the ground truth
for fidelity tests and for other tools)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import IO, Any

from .reader import Recording

GLOBAL_PREFIX = "global:"  # module globals a function reads (recorder option "globals")


def export_events(rec: Recording, marks: bool = False) -> Iterator[dict[str, Any]]:
    names = rec.thread_names()
    cwd = rec.meta.get("cwd") or os.getcwd()
    absolute: dict[str, str] = {}
    for ev in rec.events(marks=marks):
        obj = ev.to_json(names)
        values = obj.get("locals")
        if values and any(k.startswith(GLOBAL_PREFIX) for k in values):
            obj["locals"] = {k: v for k, v in values.items() if not k.startswith(GLOBAL_PREFIX)}
            obj["globals"] = {k[len(GLOBAL_PREFIX):]: v for k, v in values.items()
                              if k.startswith(GLOBAL_PREFIX)}
        f = obj.get("file")
        if f is not None:
            if f not in absolute:
                absolute[f] = f if f.startswith("<") or os.path.isabs(f) else os.path.normpath(
                    os.path.join(cwd, f))
            obj["file"] = absolute[f]
        yield obj


def write_jsonl(rec: Recording, out: IO[str], marks: bool = False) -> int:
    n = 0
    for obj in export_events(rec, marks):
        out.write(json.dumps(obj, ensure_ascii=False))
        out.write("\n")
        n += 1
    return n
