"""The recording file format: definitions and reader primitives.

This module is the specification of what the native recorder (``_native/``),
the pure-Python fallback and the writer produce, and the only recorder module
the server imports (standard library and lz4 only).

File::

    header   MAGIC, u16 major, u16 minor, u32 n, n bytes of JSON metadata
    frame*   FRAME_HEADER (magic b"FR", kind, codec, stored length, raw length,
             crc32 of info+stored, info length), info bytes, stored bytes
    [index]  an INDEX frame and TRAILER (b"DSIX", u64 offset of the INDEX
             frame) when the recording was closed cleanly

Frames are appended and flushed at least every 100 ms and every 1 MB of
events, so after a crash everything up to the last whole frame is readable.
A frame is DEFS (definitions), EVENTS (a chunk of events that decodes on its
own), or END (JSON: why and when the recording ended).

Definitions (DEFS payload; ids are assigned in order, from 1):
    D.STR     len, utf-8                     -> string id
    D.CODE    file id, qualname id, name id, first line, flags -> code id
    D.THREAD  ident, native id, name id (0: none)            -> thread id

Events (EVENTS payload).  Each thread's first record in a chunk is a
KEYFRAME (its step number and stack); a SET/DEL record updates a local of
the top frame and belongs to the event record before it:
    E.THREAD tid                 following records are for this thread
    E.KEYFRAME step, depth       then `depth` KFRAME records, bottom first
    E.KFRAME frame, code, line   a frame of the keyframe (its locals follow)
    E.CALL frame, code, line     event "call" (a new frame; its locals follow)
    E.ENTER frame, code, line    a frame already running when first seen (no event)
    E.LINE line                  event "line"
    E.RETURN line, value         event "return"; the frame is popped after it
    E.EXCEPTION line, type name id, value   event "exception"
    E.POP n                      n frames left without a return event
    E.SET name id, value / E.DEL name id
    E.MARK kind id, text         an explicit event (not a step): setVariable, goto…

Values: see decode_value (tag, payload).  Builtin scalars and containers are
encoded by content and rebuilt into exactly their repr(); other objects carry
the repr() text taken while recording.  What was cut is rendered with "…" and
reported as truncated.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

MAGIC = b"DSREC\x00"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0

FILE_HEADER = struct.Struct("<6sHHI")
FRAME_HEADER = struct.Struct("<2sBBIIII")  # magic, kind, codec, stored, raw, crc32, info length
FRAME_MAGIC = b"FR"
TRAILER = struct.Struct("<4sQ")
TRAILER_MAGIC = b"DSIX"

MAX_FRAME = 1 << 30  # larger lengths mean corruption


class K:
    """Frame kinds."""

    DEFS = 1
    EVENTS = 2
    END = 3
    INDEX = 4


class Codec:
    RAW = 0
    LZ4 = 1  # lz4.block, size not stored (raw length is in the header)


class D:
    STR = 0x01
    CODE = 0x02
    THREAD = 0x03


class E:
    THREAD = 0x40
    KEYFRAME = 0x41
    KFRAME = 0x42
    CALL = 0x43
    ENTER = 0x44
    LINE = 0x45
    RETURN = 0x46
    EXCEPTION = 0x47
    POP = 0x48
    SET = 0x50
    DEL = 0x51
    MARK = 0x60


class V:
    NONE = 0x01
    TRUE = 0x02
    FALSE = 0x03
    INT = 0x04
    BIGINT = 0x05
    FLOAT = 0x06
    STR = 0x07
    STR_TRUNC = 0x08
    BYTES = 0x09
    BYTES_TRUNC = 0x0A
    COMPLEX = 0x0B
    LIST = 0x10
    TUPLE = 0x11
    SET = 0x12
    FROZENSET = 0x13
    DICT = 0x14
    DEEP = 0x18
    RECUR = 0x19
    REPR = 0x20
    REPR_TRUNC = 0x21
    REPR_ERROR = 0x22
    REPR_SLOW = 0x23


class FormatError(Exception):
    """The file is not a recording, is corrupt, or is newer than this reader."""


# ---- writing helpers (used by the writer and the pure-Python recorder) -------


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def file_header(meta: dict[str, Any]) -> bytes:
    body = json.dumps(meta, sort_keys=True).encode()
    return FILE_HEADER.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, len(body)) + body


def frame(kind: int, codec: int, stored: bytes, raw_len: int, info: bytes = b"") -> bytes:
    crc = zlib.crc32(stored, zlib.crc32(info))
    head = FRAME_HEADER.pack(FRAME_MAGIC, kind, codec, len(stored), raw_len, crc, len(info))
    return head + info + stored


def chunk_info(first_event: int, nevents: int, threads: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(varint(first_event) + varint(nevents) + varint(len(threads)))
    for tid, first_step, nsteps in threads:
        out += varint(tid) + varint(first_step) + varint(nsteps)
    return bytes(out)


# ---- reading primitives ------------------------------------------------------


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def unzigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def parse_file_header(data: bytes) -> tuple[dict[str, Any], int, int]:
    """(metadata, minor version, offset of the first frame)."""
    if len(data) < FILE_HEADER.size or not data.startswith(MAGIC):
        raise FormatError("not a DevSandbox recording (bad magic)")
    _, major, minor, n = FILE_HEADER.unpack_from(data)
    if major > FORMAT_MAJOR:
        raise FormatError(
            f"recording format {major}.{minor} is newer than this reader "
            f"({FORMAT_MAJOR}.{FORMAT_MINOR}): upgrade devsandbox"
        )
    end = FILE_HEADER.size + n
    if len(data) < end:
        raise FormatError("recording header is truncated")
    try:
        meta = json.loads(data[FILE_HEADER.size : end])
    except ValueError as exc:
        raise FormatError(f"recording header is corrupt: {exc}") from None
    return meta, minor, end


def parse_chunk_info(info: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    first, pos = read_varint(info, 0)
    n, pos = read_varint(info, pos)
    count, pos = read_varint(info, pos)
    threads = []
    for _ in range(count):
        tid, pos = read_varint(info, pos)
        step, pos = read_varint(info, pos)
        nsteps, pos = read_varint(info, pos)
        threads.append((tid, step, nsteps))
    return first, n, threads


def decompress(codec: int, stored: bytes, raw_len: int) -> bytes:
    if codec == Codec.RAW:
        return stored
    if codec == Codec.LZ4:
        import lz4.block

        return lz4.block.decompress(stored, uncompressed_size=raw_len)
    raise FormatError(f"unknown codec {codec}")


# ---- values --------------------------------------------------------------------

ELLIPSIS = "…"
_OPEN = {V.LIST: "[", V.TUPLE: "(", V.SET: "{", V.FROZENSET: "frozenset({", V.DICT: "{"}
_CLOSE = {V.LIST: "]", V.TUPLE: ")", V.SET: "}", V.FROZENSET: "})", V.DICT: "}"}
_RECUR = {V.LIST: "[...]", V.TUPLE: "(...)", V.SET: "set(...)", V.FROZENSET: "frozenset(...)",
          V.DICT: "{...}"}


def decode_value(buf: bytes, pos: int) -> tuple[str, bool, int]:
    """Decode one value at `pos`: (its repr text, whether something was cut, next pos)."""
    tag = buf[pos]
    pos += 1
    if tag == V.INT:
        n, pos = read_varint(buf, pos)
        return str(unzigzag(n)), False, pos
    if tag == V.STR or tag == V.REPR or tag == V.BIGINT or tag == V.REPR_ERROR:
        n, pos = read_varint(buf, pos)
        text = buf[pos : pos + n].decode("utf-8", "surrogatepass")
        return (repr(text) if tag == V.STR else text), False, pos + n
    if tag == V.NONE:
        return "None", False, pos
    if tag == V.TRUE:
        return "True", False, pos
    if tag == V.FALSE:
        return "False", False, pos
    if tag == V.FLOAT:
        return repr(struct.unpack_from("<d", buf, pos)[0]), False, pos + 8
    if V.LIST <= tag <= V.DICT:
        total, pos = read_varint(buf, pos)
        shown, pos = read_varint(buf, pos)
        parts = []
        cut = False
        for _ in range(shown):
            text, c, pos = decode_value(buf, pos)
            if tag == V.DICT:
                vtext, c2, pos = decode_value(buf, pos)
                text = f"{text}: {vtext}"
                c = c or c2
            parts.append(text)
            cut = cut or c
        if shown < total:
            parts.append(f"{ELLIPSIS}{total - shown} more")
            cut = True
        if not parts:
            return {V.LIST: "[]", V.TUPLE: "()", V.SET: "set()", V.FROZENSET: "frozenset()",
                    V.DICT: "{}"}[tag], cut, pos
        body = ", ".join(parts)
        if tag == V.TUPLE and total == 1:
            body += ","
        return _OPEN[tag] + body + _CLOSE[tag], cut, pos
    if tag == V.STR_TRUNC or tag == V.REPR_TRUNC:
        total, pos = read_varint(buf, pos)
        n, pos = read_varint(buf, pos)
        text = buf[pos : pos + n].decode("utf-8", "surrogatepass")
        shown = len(text)
        head = repr(text) if tag == V.STR_TRUNC else text
        return f"{head}{ELLIPSIS}{total - shown} more chars", True, pos + n
    if tag == V.BYTES or tag == V.BYTES_TRUNC:
        total = None
        if tag == V.BYTES_TRUNC:
            total, pos = read_varint(buf, pos)
        n, pos = read_varint(buf, pos)
        text = repr(bytes(buf[pos : pos + n]))
        if total is not None:
            return f"{text}{ELLIPSIS}{total - n} more bytes", True, pos + n
        return text, False, pos + n
    if tag == V.COMPLEX:
        re_, im = struct.unpack_from("<dd", buf, pos)
        return repr(complex(re_, im)), False, pos + 16
    if tag == V.DEEP:
        kind = buf[pos]
        total, pos = read_varint(buf, pos + 1)
        inner = f"{ELLIPSIS}{total} items"
        if kind == V.FROZENSET:
            return f"frozenset({{{inner}}})", True, pos
        return _OPEN.get(kind, "<") + inner + _CLOSE.get(kind, ">"), True, pos
    if tag == V.RECUR:
        return _RECUR.get(buf[pos], "..."), False, pos + 1
    if tag == V.REPR_SLOW:
        n, pos = read_varint(buf, pos)
        return buf[pos : pos + n].decode("utf-8", "replace"), True, pos + n
    raise FormatError(f"unknown value tag 0x{tag:02x} at {pos - 1}")


def skip_value(buf: bytes, pos: int) -> int:
    return decode_value(buf, pos)[2]
