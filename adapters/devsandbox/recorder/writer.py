"""The writer: takes the recorder's buffers, compresses and appends them.

A daemon thread takes the buffers every 100 ms; the recorder also hands them
over as soon as 1 MB of events is waiting.  Frames go to the file (flushed to
the OS after each, so a killed process loses at most the last 100 ms or 1 MB)
or, in flight-recorder mode, to a ring in memory that keeps only the last N
bytes of events and is written out by dump().
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
import zlib
from typing import Any, Callable

from . import format as fmt

Take = Callable[[], "tuple[bytes, bytes, list[tuple[int, int, int]], int] | None"]

FLUSH_INTERVAL = 0.1


_lz4_compress: Any = None

try:  # the native recorder's packer: a whole batch with the GIL released once
    from .._tracer import pack_chunks as _pack_chunks  # type: ignore[import-not-found]
except ImportError:  # the pure-Python recorder, where the extension does not load
    _pack_chunks = None


def _compress(data: bytes) -> tuple[int, bytes]:
    global _lz4_compress
    if _lz4_compress is None:  # imported once (an import statement per frame costs)
        try:
            import lz4.block
        except ImportError:  # still a valid recording, just larger
            return fmt.Codec.RAW, data
        _lz4_compress = lz4.block.compress
    return fmt.Codec.LZ4, _lz4_compress(data, store_size=False)


# how many earlier matches the writer thread's packer tries (pack.c): about a quarter
# smaller than the first match, at 200-400 MB/s on this thread (beside the program's)
SEARCH_DEPTH = 8


def _pack(frames: list[tuple[int, bytes, bytes]], depth: int = 0) -> list[bytes]:
    """The file frames for (kind, raw payload, info) triples.

    Compressing and checksumming each chunk through lz4 and zlib releases the GIL and
    waits to take it back from the busy program for up to the switch interval, two or
    three times per chunk: the writer thread fell behind and the program's thread wrote
    most chunks itself.  The native packer does the whole batch in one release.
    `depth`: matches it tries (0: the first, the fastest)."""
    if _pack_chunks is None:
        out = []
        for kind, raw, info in frames:
            codec, stored = _compress(raw)
            out.append(fmt.frame(kind, codec, stored, len(raw), info))
        return out
    packed = _pack_chunks([(bytes(raw), zlib.crc32(info)) for _, raw, info in frames], depth)
    return [fmt.frame(kind, fmt.Codec.LZ4 if compressed else fmt.Codec.RAW, stored, len(raw),
                      info, crc=crc)
            for (kind, raw, info), (compressed, stored, crc) in zip(frames, packed)]


class Writer:
    def __init__(self, path: str | None, meta: dict[str, Any], take: Take,
                 ring_bytes: int = 0, untrace: Callable[[], None] | None = None) -> None:
        self.path = path
        self.meta = meta
        self._take = take
        self._ring_bytes = ring_bytes
        self._ring: collections.deque[bytes] = collections.deque()
        self._ring_size = 0
        self._defs: list[bytes] = []  # ring mode: every DEFS frame (needed by any chunk)
        self._lock = threading.Lock()  # keeps take() and the order of frames together
        self._write_lock = threading.Lock()  # one writer of frames at a time (flush() waits)
        self._last_write = time.monotonic()
        self.last_steps: dict[int, int] = {}  # thread id -> its last step written
        self._pending: list[tuple[bytes, bytes, list[tuple[int, int, int]], int]] = []
        self._events_written = 0
        self._index: list[tuple[int, int]] = []  # (offset, kind)
        self._wake = threading.Event()
        self._closed = False
        self.bytes_raw = 0
        _compress(b"")  # import lz4 now: in the writer thread, under a busy program's GIL, slow
        self._untrace = untrace  # run in the writer thread: the recorder leaves it alone
        self.file = None
        if path and not ring_bytes:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.file = open(path, "wb")  # noqa: SIM115 - closed in close()
            self.file.write(fmt.file_header(meta))
            self.file.flush()
        self._thread = threading.Thread(target=self._run, name="devsandbox-recorder-writer",
                                        daemon=True)
        # a debugger neither traces nor suspends it; the recorder leaves it alone
        self._thread.pydev_do_not_trace = True  # type: ignore[attr-defined]
        self._thread.is_pydev_daemon_thread = True  # type: ignore[attr-defined]
        self._thread._devsandbox_internal = True  # type: ignore[attr-defined]
        self._thread.start()

    # called by the recorder (any thread) when its buffer is full, or not taken for a while
    def request_flush(self) -> None:
        self._collect()
        self._wake.set()
        if time.monotonic() - self._last_write > 0.2:
            # the writer thread is starved of the GIL (or stuck): write from here
            self._write_pending()

    def _collect(self) -> bool:
        with self._lock:
            chunk = self._take()
            if chunk is None:
                return False
            if chunk[0] or chunk[1]:
                self._pending.append(chunk)
            return True

    def _run(self) -> None:
        while not self._closed:
            if self._untrace is not None:
                self._untrace()  # a tee may have been put on every thread meanwhile
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            if self._closed:
                break
            self._collect()
            self._write_pending(SEARCH_DEPTH)

    def _write_pending(self, depth: int = 0) -> None:
        """Write what was taken; `depth` > 0 (the writer thread): compress harder."""
        with self._write_lock:
            with self._lock:
                pending, self._pending = self._pending, []
            self._last_write = time.monotonic()
            frames: list[tuple[int, bytes, bytes]] = []
            for defs, events, threads, total in pending:
                if defs:
                    frames.append((fmt.K.DEFS, defs, b""))
                if events:
                    nevents = sum(n for _, _, n in threads)
                    frames.append((fmt.K.EVENTS, events,
                                   fmt.chunk_info(total - nevents, nevents, threads)))
            if frames:
                self._emit(frames, depth)
            for _, _, threads, _ in pending:
                for tid, first, n in threads:
                    if n:
                        self.last_steps[tid] = first + n - 1

    def _emit(self, frames: list[tuple[int, bytes, bytes]], depth: int) -> None:
        """Write (kind, raw payload, info) frames: to the file in one write, or to the ring."""
        datas = _pack(frames, depth)
        self.bytes_raw += sum(len(raw) for _, raw, _ in frames)
        if self.file is not None:
            at = self.file.tell()
            for (kind, _, _), data in zip(frames, datas):
                self._index.append((at, kind))
                at += len(data)
            self.file.write(b"".join(datas))
            self.file.flush()
            return
        for (kind, _, _), data in zip(frames, datas):
            if kind == fmt.K.DEFS:
                self._defs.append(data)
                continue
            self._ring.append(data)
            self._ring_size += len(data)
            while self._ring_size > self._ring_bytes and len(self._ring) > 1:
                self._ring_size -= len(self._ring.popleft())

    def flush(self) -> bool:
        """Take and write everything recorded so far (from any thread); False if a
        thread stayed in the middle of an event (a slow repr) for a whole second."""
        for _ in range(200):
            if self._collect():
                break
            threading.Event().wait(0.005)
        else:
            self._write_pending()
            return False
        self._write_pending()
        return True

    def close(self, end: dict[str, Any]) -> None:
        """Write what is left, the END frame and the index; stop the thread."""
        self.flush()
        self._closed = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(5)
        self._write_pending()
        if self.file is None:
            return
        self._write_end(self.file, end)
        self.file.close()

    def _write_end(self, f: Any, end: dict[str, Any]) -> None:
        body = json.dumps(end, sort_keys=True).encode()
        self._index.append((f.tell(), fmt.K.END))
        f.write(fmt.frame(fmt.K.END, fmt.Codec.RAW, body, len(body)))
        index_at = f.tell()
        raw = b"".join(fmt.varint(off) + fmt.varint(kind) for off, kind in self._index)
        f.write(fmt.frame(fmt.K.INDEX, fmt.Codec.RAW, raw, len(raw)))
        f.write(fmt.TRAILER.pack(fmt.TRAILER_MAGIC, index_at))
        f.flush()

    def dump(self, path: str, end: dict[str, Any]) -> str:
        """Flight-recorder mode: write the ring (and all definitions) to `path`."""
        self.flush()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        saved_index, self._index = self._index, []
        with open(path, "wb") as f:
            f.write(fmt.file_header({**self.meta, "flight_recorder": True}))
            for data in [*self._defs, *list(self._ring)]:
                kind = fmt.FRAME_HEADER.unpack_from(data)[1]
                self._index.append((f.tell(), kind))
                f.write(data)
            self._write_end(f, end)
        self._index = saved_index
        return path
