"""Inputs from a recording: the recorded calls of the target function.

A recording stores each call's arguments as the function's locals at its first
step, as repr text.  A call is reconstructable when every argument's repr is a
Python literal (``ast.literal_eval``) and was not truncated; other calls
(objects, ``self``, cut-off containers) are listed with the reason.  Identical
calls are kept once.  The recorded return value (or exception) goes along as
``recorded`` for reference.
"""

from __future__ import annotations

import ast
import os
from typing import Any

from ..errors import InvalidRequest
from ..recording.reader import FormatError, Recording

DEFAULT_LIMIT = 100


def module_matches(module: str, file: str) -> bool:
    """Could ``file`` be the module ``module``?  (``__main__``: any file.)"""
    if module in ("__main__", "__mp_main__"):
        return True
    stem = os.path.splitext(os.path.normpath(file))[0]
    parts = module.split(".")
    tail = os.sep.join(parts)
    return stem == tail or stem.endswith((os.sep + tail, os.sep + os.path.join(tail, "__init__")))


def _literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
        return True
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def calls_from_recording(path: str, target: str, *, file: str | None = None,
                         limit: int = DEFAULT_LIMIT, dedupe: bool = True) -> dict[str, Any]:
    """``{"kind": "recording", "recording", "file", "calls", "unreconstructed", "seen",
    "truncatedAt"?}`` for the calls of ``target`` (module:qualname) in the recording."""
    module, _, qualname = target.partition(":")
    wanted_file = os.path.realpath(file) if file else None
    try:
        rec = Recording(path)
    except (OSError, FormatError) as exc:
        raise InvalidRequest(f"cannot read the recording {path}: {exc}") from None
    calls: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    seen_params: set[tuple[tuple[str, str], ...]] = set()
    pending: dict[tuple[int, int], dict[str, Any]] = {}
    matched_file: str | None = None
    seen = 0
    full = False
    with rec:
        for ev in rec.events():
            code = ev.code
            if code is None:
                continue
            if ev.kind in ("return", "exception") and (ev.thread, ev.frame) in pending:
                if ev.kind == "exception":
                    pending[(ev.thread, ev.frame)]["recorded"] = {
                        "raised": f"{ev.exc_type}: {ev.value}"}
                    continue
                entry = pending.pop((ev.thread, ev.frame))
                # an exception that escaped ends in a return of None
                if not ("raised" in entry.get("recorded", {}) and ev.value in (None, "None")):
                    entry["recorded"] = {"returned": ev.value}
                continue
            if ev.kind != "call" or code.qualname != qualname:
                continue
            if wanted_file is not None:
                if os.path.realpath(code.file) != wanted_file:
                    continue
            elif not module_matches(module, code.file):
                continue
            matched_file = matched_file or code.file
            seen += 1
            if full:
                if not pending:
                    break
                continue
            source = {"recording": rec.path, "thread": ev.thread, "step": ev.step}
            ident = f"s{ev.step}" if ev.thread == 1 else f"t{ev.thread}s{ev.step}"
            bad = sorted(name for name in ev.locals if name in ev.truncated)
            bad += sorted(name for name, text in ev.locals.items()
                          if name not in ev.truncated and not _literal(text))
            if bad:
                shown = ", ".join(f"{n}={_short(ev.locals[n])}" for n in bad[:3])
                missing.append({"id": ident, "source": source, "reason":
                                f"not a literal or truncated: {shown}"})
                continue
            key = tuple(sorted(ev.locals.items()))
            if dedupe and key in seen_params:
                continue
            seen_params.add(key)
            entry = {"id": ident, "params": dict(ev.locals), "source": source}
            calls.append(entry)
            pending[(ev.thread, ev.frame)] = entry
            if len(calls) >= limit:
                full = True
        end_seen = seen
    result: dict[str, Any] = {"kind": "recording", "recording": rec.path, "calls": calls,
                              "unreconstructed": missing, "seen": end_seen}
    if matched_file:
        result["file"] = matched_file
    if full:
        result["truncatedAt"] = limit
    return result


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
