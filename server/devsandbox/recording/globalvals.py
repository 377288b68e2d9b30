"""A module's globals at a moment of a recording, as fresh as the recording knows them.

The module frame records its namespace only when it runs a line: while a function
runs, the module frame's values are those of its last line (the one that called
into the program), however often functions rebound them since (``global
COUNTER; COUNTER += 1``).  Functions record the module globals they write (by
default) and read (recorder option ``globals``) beside their locals as
``global:NAME``, at each of their events.

`fresh` finds, for each name, the latest recorded value at or before a step in
any thread: the last write (SET, or a keyframe's copy) of ``global:NAME`` in a
frame of the module's file, or of ``NAME`` in the module frame itself.  Names
that no function recorded are left to the module frame (no search).  A search
walks the chunks backwards from the step and stops at the first chunk that
holds a write of every name looked for (each chunk's keyframe restates the
values of the frames alive at its start, so this is rarely more than a chunk
or two).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from . import chunks
from .timeline import FrameState, Timeline

PREFIX = "global:"
"""How a function's record of a module global is named (the recorder's ``global:NAME``)."""


@dataclass(frozen=True)
class Fresh:
    """Where the latest value of a module global was recorded."""

    tid: int
    step: int
    fid: int
    key: str  # the recorded name: "global:NAME" in a function, "NAME" in the module frame

    def frame(self, tl: Timeline) -> FrameState | None:
        for f in tl.stack(self.tid, self.step):
            if f.fid == self.fid:
                return f
        return None


def recorded_by_functions(tl: Timeline, names: Iterable[str]) -> list[str]:
    """The names some function recorded as ``global:NAME``."""
    strings = _strings(tl)
    return [n for n in names if PREFIX + n in strings]


def _strings(tl: Timeline) -> dict[str, list[int]]:
    """Each string's ids (the recorder may define an equal string more than once: one
    ``global:NAME`` per function that records it)."""
    rec = tl.rec
    cached = getattr(rec, "_ds_string_ids", None)
    if cached is None or cached[0] != len(rec.strings):
        ids: dict[str, list[int]] = {}
        for i, s in enumerate(rec.strings):
            ids.setdefault(s, []).append(i)
        cached = (len(rec.strings), ids)
        rec._ds_string_ids = cached  # type: ignore[attr-defined]
    return cached[1]


def _codes_of(tl: Timeline, file: str) -> tuple[set[int], set[int]]:
    """The code ids of a file, and those of its module frame."""
    rec = tl.rec
    cache = getattr(rec, "_ds_file_codes", None)
    if cache is None or cache[0] != len(rec.codes):
        cache = (len(rec.codes), {})
        rec._ds_file_codes = cache  # type: ignore[attr-defined]
    found = cache[1].get(file)
    if found is None:
        codes = {cid for cid, c in enumerate(rec.codes) if c is not None and c.file == file}
        found = codes, {cid for cid in codes if rec.codes[cid].qualname == "<module>"}
        cache[1][file] = found
    return found  # type: ignore[no-any-return]


def fresh(tl: Timeline, tid: int, step: int, file: str, names: Iterable[str]) -> dict[str, Fresh]:
    """For each name some function of `file` recorded, its latest recorded write at or before
    `step` of thread `tid` (the moment), in any thread."""
    wanted = recorded_by_functions(tl, names)
    if not wanted:
        return {}
    strings = _strings(tl)
    in_function = {i: n for n in wanted for i in strings[PREFIX + n]}
    in_module = {i: n for n in wanted for i in strings.get(n, ())}
    file_codes, module_codes = _codes_of(tl, file)
    ids = set(in_function) | set(in_module)
    now_ci, now_order = tl.when(tid, step)
    found: dict[str, Fresh] = {}
    for ci in range(now_ci, -1, -1):
        summary = tl.summary(ci)
        best: dict[str, tuple[int, Fresh]] = {}
        for t, written in summary.names.items():
            hit = {i for i in ids if i in written}
            if not hit:
                continue
            sc = tl.scan(ci)
            ts = sc.threads.get(t)
            if ts is None:
                continue
            for index, fid, code, k, _span, _restated in chunks.writes(sc.buf, t, hit,
                                                                      codes=file_codes):
                if k in in_function:
                    name, key = in_function[k], PREFIX + in_function[k]
                elif code in module_codes:
                    name, key = in_module[k], in_module[k]
                else:
                    continue  # a local of a function that has the same name
                if name in found:
                    continue
                i = max(index, 0)  # a keyframe's copy: the value at the chunk's first step
                order = ts.order[i]
                if ci == now_ci and order > now_order:
                    continue
                if name not in best or order >= best[name][0]:
                    best[name] = (order, Fresh(t, ts.first + i, fid, key))
        for name, (_order, where) in best.items():
            found[name] = where
        if len(found) == len(wanted):
            break
    return found


def holder(tl: Timeline, where: Fresh) -> FrameState | None:
    """The frame that holds a found value (None if the write was a deletion)."""
    frame = where.frame(tl)
    if frame is None or frame.span_of(where.key) is None:
        return None
    return frame


def texts(tl: Timeline, tid: int, step: int, file: str, names: Iterable[str]) -> dict[str, str]:
    """The repr text of each name's latest recorded value (see `fresh`); a name deleted by
    then is left out."""
    out = {}
    for name, where in fresh(tl, tid, step, file, names).items():
        frame = holder(tl, where)
        found = frame.value(where.key) if frame is not None else None
        if found is not None:
            out[name] = found[0]
    return out
