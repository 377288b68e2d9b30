"""Reading recordings: frames, definitions, events, seeking by step.

Opening a recording reads the header and every frame header (not the
payloads), checks each frame's CRC, loads the definitions and keeps, per
events chunk, the step range of every thread: `event_at(thread, step)` finds
its chunk by binary search and decodes that chunk alone (every chunk starts
with a keyframe of each thread's stack).

Recordings with timings (format 1.2) give call and return events their time
(`Event.t_us`, microseconds since the recording's clock origin) and return
events the duration of the call they end (`Event.duration_us`, when its call
event was read too).

A file that stops in the middle (the recorded process was killed) or holds a
corrupt frame is read up to its last whole frame; `end` says where and why.
"""

from __future__ import annotations

import bisect
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from devsandbox.recorder import format as fmt
from devsandbox.recorder.format import E, FormatError

__all__ = ["Event", "FormatError", "FrameInfo", "Recording"]

try:  # LZ4 blocks decoded by our chunk scanner: no lz4 package (its libraries) in the server,
    # and no second chunk-sized buffer (lz4.block.decompress copies its output into bytes)
    from devsandbox._timescan import lz4_block as _lz4_block
except ImportError:  # not built: lz4.block (format.decompress)
    _lz4_block = None


@dataclass(frozen=True)
class CodeInfo:
    file: str
    qualname: str
    name: str
    firstlineno: int
    flags: int


@dataclass(frozen=True)
class ThreadInfo:
    tid: int
    ident: int
    native_id: int
    name: str | None


@dataclass(slots=True)
class FrameInfo:
    """A frame header in the file (one per chunk is kept for the whole session: slots)."""

    offset: int
    kind: int
    codec: int
    stored: int
    raw: int
    info: bytes
    # EVENTS chunks only
    first_event: int = 0
    nevents: int = 0
    threads: list[tuple[int, int, int]] = field(default_factory=list)


@dataclass
class Event:
    """One step of one thread, as recorded (kind: call, line, return, exception)
    or an explicit mark (kind "mark": not a step)."""

    kind: str
    thread: int
    step: int
    code: CodeInfo | None
    line: int
    frame: int
    depth: int
    locals: dict[str, str]
    truncated: list[str]
    value: str | None = None  # return value, or exception value
    value_truncated: bool = False
    exc_type: str | None = None
    mark: str | None = None  # mark kind; value holds its text
    t_us: int | None = None  # call and return events (format 1.2): µs since the clock origin
    duration_us: int | None = None  # return events: µs since the call event of this frame

    def to_json(self, thread_names: dict[int, str | None]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.step,
            "thread": self.thread,
            "thread_name": thread_names.get(self.thread),
            "kind": self.kind,
        }
        if self.kind == "mark":
            out.update(mark=self.mark, text=self.value)
            return out
        out.update(
            file=self.code.file if self.code else None,
            line=self.line,
            function=self.code.qualname if self.code else None,
            frame=self.frame,
            depth=self.depth,
            locals=self.locals,
        )
        if self.truncated:
            out["truncated"] = self.truncated
        if self.t_us is not None:
            out["t_us"] = self.t_us
        if self.kind == "return":
            out["return"] = self.value
            if self.value_truncated:
                out["return_truncated"] = True
            if self.duration_us is not None:
                out["duration_us"] = self.duration_us
        elif self.kind == "exception":
            out["exception"] = {"type": self.exc_type, "value": self.value}
            if self.value_truncated:
                out["exception"]["truncated"] = True
        return out


_KINDS = {E.CALL: "call", E.LINE: "line", E.RETURN: "return", E.EXCEPTION: "exception"}


class _Frame:
    __slots__ = ("code", "fid", "line", "values")

    def __init__(self, fid: int, code: int, line: int) -> None:
        self.fid = fid
        self.code = code
        self.line = line
        self.values: dict[int, Any] = {}  # name id -> fmt.Node or (text, truncated)


class _Thread:
    __slots__ = ("clock", "stack", "step", "timed")

    def __init__(self) -> None:
        self.stack: list[_Frame] = []
        self.step = 0
        self.clock = 0  # µs since the clock origin (CLOCK records, format 1.2)
        self.timed = False  # a CLOCK record came since the thread's keyframe


class Recording:
    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.size = os.path.getsize(self.path)
        self._f = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        head = self._f.read(fmt.FILE_HEADER.size)  # and the metadata it announces
        if len(head) == fmt.FILE_HEADER.size and head.startswith(fmt.MAGIC):
            head += self._f.read(fmt.FILE_HEADER.unpack(head)[3])
        self.meta, self.minor, pos = fmt.parse_file_header(head)
        self.frames: list[FrameInfo] = []
        self.end: dict[str, Any] = {}
        self.complete = False
        self.strings: list[str] = [""]
        self.codes: list[CodeInfo | None] = [None]
        self.threads: dict[int, ThreadInfo] = {}
        self._chunks: list[FrameInfo] = []
        # per thread: sorted first steps of its chunks, and the chunk indices
        self._by_thread: dict[int, tuple[list[int], list[int]]] = {}
        self._next = pos  # where the next frame starts (refresh() reads on from here)
        self._scan(pos)
        self._index_new(0)

    def refresh(self) -> int:
        """Read the frames appended since the last read (a recording still being
        written); returns how many new events chunks there are."""
        if self.complete:
            return 0
        self.size = os.path.getsize(self.path)
        nframes, nchunks = len(self.frames), len(self._chunks)
        self.end = {}
        self._scan(self._next)
        self._index_new(nframes)
        return len(self._chunks) - nchunks

    def _index_new(self, first_frame: int) -> None:
        self._load_defs(first_frame)
        for fi in self.frames[first_frame:]:
            if fi.kind != fmt.K.EVENTS:
                continue
            ci = len(self._chunks)
            self._chunks.append(fi)
            for tid, first, n in fi.threads:
                if n:
                    steps, idx = self._by_thread.setdefault(tid, ([], []))
                    steps.append(first)
                    idx.append(ci)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Recording:  # noqa: PYI034  (Recording is not subclassed)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- frames ------------------------------------------------------------

    def _scan(self, pos: int) -> None:
        f = self._f
        while True:
            if pos == self.size:
                if not self.complete:
                    self.end = {"reason": "no end record: the recorded process was killed or "
                                "crashed", "truncated": True, "offset": pos}
                return
            f.seek(pos)
            head = f.read(fmt.FRAME_HEADER.size)
            if len(head) < fmt.FRAME_HEADER.size:
                if head[:4] == fmt.TRAILER_MAGIC[: len(head)] and self.complete:
                    return
                self._stop_at(pos, "the file ends inside a frame header")
                return
            magic, kind, codec, stored, raw, crc, ninfo = fmt.FRAME_HEADER.unpack(head)
            if magic != fmt.FRAME_MAGIC:
                if head.startswith(fmt.TRAILER_MAGIC) and self.complete:
                    return
                self._stop_at(pos, "bad frame magic (corrupt data)")
                return
            if stored > fmt.MAX_FRAME or raw > fmt.MAX_FRAME or ninfo > fmt.MAX_FRAME:
                self._stop_at(pos, "impossible frame length (corrupt data)")
                return
            body_at = pos + fmt.FRAME_HEADER.size
            if body_at + ninfo + stored > self.size:
                self._stop_at(pos, "the file ends inside a frame (the process was killed "
                              "while writing)")
                return
            info = f.read(ninfo)
            stored_bytes = f.read(stored)
            if zlib.crc32(stored_bytes, zlib.crc32(info)) != crc:
                self._stop_at(pos, "frame checksum mismatch (corrupt data)")
                return
            fi = FrameInfo(pos, kind, codec, stored, raw, info)
            if kind == fmt.K.EVENTS:
                fi.first_event, fi.nevents, fi.threads = fmt.parse_chunk_info(info)
            if kind == fmt.K.END:
                try:
                    self.end = json.loads(stored_bytes)
                except ValueError:
                    self.end = {"reason": "unreadable end record"}
                self.complete = True
            if kind in (fmt.K.DEFS, fmt.K.EVENTS, fmt.K.END, fmt.K.INDEX):
                self.frames.append(fi)
            pos = body_at + ninfo + stored
            self._next = pos

    def _stop_at(self, pos: int, why: str) -> None:
        self.end = {"reason": why, "truncated": True, "offset": pos}

    def _payload(self, fi: FrameInfo) -> bytes:
        self._f.seek(fi.offset + fmt.FRAME_HEADER.size + len(fi.info))
        stored = self._f.read(fi.stored)
        if fi.codec == fmt.Codec.LZ4 and _lz4_block is not None:
            try:
                return _lz4_block(stored, fi.raw)  # type: ignore[no-any-return]
            except ValueError:
                raise FormatError(f"corrupt LZ4 data in the frame at {fi.offset}") from None
        return fmt.decompress(fi.codec, stored, fi.raw)

    def _load_defs(self, first_frame: int = 0) -> None:
        for fi in self.frames[first_frame:]:
            if fi.kind != fmt.K.DEFS:
                continue
            buf = self._payload(fi)
            pos = 0
            while pos < len(buf):
                tag = buf[pos]
                pos += 1
                if tag == fmt.D.STR:
                    n, pos = fmt.read_varint(buf, pos)
                    self.strings.append(buf[pos : pos + n].decode("utf-8", "surrogatepass"))
                    pos += n
                elif tag == fmt.D.CODE:
                    vals = []
                    for _ in range(5):
                        v, pos = fmt.read_varint(buf, pos)
                        vals.append(v)
                    s = self.strings
                    self.codes.append(CodeInfo(s[vals[0]], s[vals[1]], s[vals[2]], vals[3], vals[4]))
                elif tag == fmt.D.THREAD:
                    ident, pos = fmt.read_varint(buf, pos)
                    native, pos = fmt.read_varint(buf, pos)
                    name, pos = fmt.read_varint(buf, pos)
                    tid = len(self.threads) + 1
                    self.threads[tid] = ThreadInfo(tid, ident, native,
                                                   self.strings[name] if name else None)
                else:
                    raise FormatError(f"unknown definition 0x{tag:02x} in frame at {fi.offset}")

    # ---- events -------------------------------------------------------------

    @property
    def event_count(self) -> int:
        return sum(ch.nevents for ch in self._chunks)

    def thread_names(self) -> dict[int, str | None]:
        return {tid: t.name for tid, t in self.threads.items()}

    def events(self, marks: bool = False) -> Iterator[Event]:
        """Every event in recorded order (each thread's events in its order)."""
        starts: dict[int, int] = {}  # frame id -> time of its call event, across chunks
        for ch in self._chunks:
            yield from self._decode(ch, marks, starts)

    def event_at(self, thread: int, step: int) -> Event:
        """The event `step` of `thread`: decodes one chunk."""
        steps, idx = self._by_thread.get(thread, ([], []))
        i = bisect.bisect_right(steps, step) - 1
        if i < 0:
            raise IndexError(f"thread {thread} has no step {step}")
        for ev in self._decode(self._chunks[idx[i]], False):
            if ev.thread == thread and ev.step == step:
                return ev
        raise IndexError(f"thread {thread} has no step {step}")

    def _decode(self, ch: FrameInfo, marks: bool,
                starts: dict[int, int] | None = None) -> Iterator[Event]:
        buf = self._payload(ch)
        s = self.strings
        threads: dict[int, _Thread] = {}
        th: _Thread | None = None
        tid = 0
        pending: tuple[int, int, int, str | None, bool, str | None, int | None] | None = None
        if starts is None:
            starts = {}
        pos, n = 0, len(buf)
        dv = fmt.decode_value
        rv = fmt.read_varint
        value_ops, apply_value = fmt.VALUE_OPS, fmt.apply_value_op

        def finish() -> Event:
            assert th is not None and pending is not None
            op, step, line, value, cut, etype, t_us = pending
            top = th.stack[-1]
            loc = {s[k]: v[0] for k, v in top.values.items()}
            trunc = [s[k] for k, v in top.values.items() if v[1]]
            ev = Event(_KINDS[op], tid, step, self.codes[top.code], line, top.fid,
                       len(th.stack) - 1, loc, trunc, value, cut, etype, t_us=t_us)
            if op == E.RETURN:
                th.stack.pop()
                start = starts.pop(top.fid, None)
                if t_us is not None and start is not None:
                    ev.duration_us = t_us - start
            return ev

        while pos < n:
            op = buf[pos]
            pos += 1
            if op in value_ops:  # SET, DEL, ITEMS (format 1.1): see fmt.apply_value_op
                pos = apply_value(th.stack[-1].values, op, buf, pos)  # type: ignore[union-attr]
                continue
            if pending is not None:
                yield finish()
                pending = None
            if op == E.THREAD:
                tid, pos = rv(buf, pos)
                th = threads.setdefault(tid, _Thread())
            elif op == E.LINE:
                line, pos = rv(buf, pos)
                pending = (op, th.step, line, None, False, None, None)  # type: ignore[union-attr]
                th.stack[-1].line = line  # type: ignore[union-attr]
                th.step += 1  # type: ignore[union-attr]
            elif op in (E.CALL, E.ENTER, E.KFRAME):
                fid, pos = rv(buf, pos)
                code, pos = rv(buf, pos)
                line, pos = rv(buf, pos)
                th.stack.append(_Frame(fid, code, line))  # type: ignore[union-attr]
                if op == E.CALL:
                    t_us = th.clock if th.timed else None  # type: ignore[union-attr]
                    if t_us is not None:
                        starts[fid] = t_us
                    pending = (op, th.step, line, None, False, None, t_us)  # type: ignore[union-attr]
                    th.step += 1  # type: ignore[union-attr]
            elif op == E.RETURN:
                line, pos = rv(buf, pos)
                text, cut, pos = dv(buf, pos)
                pending = (op, th.step, line, text, cut, None,  # type: ignore[union-attr]
                           th.clock if th.timed else None)  # type: ignore[union-attr]
                th.step += 1  # type: ignore[union-attr]
            elif op == E.EXCEPTION:
                line, pos = rv(buf, pos)
                ty, pos = rv(buf, pos)
                text, cut, pos = dv(buf, pos)
                pending = (op, th.step, line, text, cut, s[ty], None)  # type: ignore[union-attr]
                th.step += 1  # type: ignore[union-attr]
            elif op == E.CLOCK:  # format 1.2
                delta, pos = rv(buf, pos)
                th.clock += delta  # type: ignore[union-attr]
                th.timed = True  # type: ignore[union-attr]
            elif op == E.KEYFRAME:
                step, pos = rv(buf, pos)
                _depth, pos = rv(buf, pos)
                th.step = step  # type: ignore[union-attr]
                th.stack = []  # type: ignore[union-attr]
                th.clock = 0  # type: ignore[union-attr]
                th.timed = False  # type: ignore[union-attr]
            elif op == E.POP:
                k, pos = rv(buf, pos)
                for dropped in th.stack[len(th.stack) - k :]:  # type: ignore[union-attr]
                    starts.pop(dropped.fid, None)
                del th.stack[len(th.stack) - k :]  # type: ignore[union-attr]
            elif op == E.MARK:
                kind, pos = rv(buf, pos)
                ln, pos = rv(buf, pos)
                text = buf[pos : pos + ln].decode("utf-8", "replace")
                pos += ln
                if marks:
                    yield Event("mark", tid, th.step if th else 0, None, 0, 0, 0, {}, [],
                                text, mark=s[kind])
            else:
                raise FormatError(f"unknown event record 0x{op:02x} at {pos - 1} in the "
                                  f"chunk at offset {ch.offset}")
        if pending is not None:
            yield finish()
