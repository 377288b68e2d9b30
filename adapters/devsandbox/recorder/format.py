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
    E.ITEMS name id, depth, path[depth], total, shown, count, count x (index, [key,] value)
                                 (1.1) only some items of a container changed: the
                                 container at `path` in the local's value (each index
                                 picks an item; a dict's: the value of its entry) now
                                 has `total` items, `shown` of them shown, and these
                                 items (a dict's: key and value) are new.  Records for
                                 nested containers come before the one holding them.
    E.MARK kind id, text         an explicit event (not a step): setVariable, goto…
    E.CLOCK delta                (1.2) the thread's monotonic clock, in microseconds: `delta`
                                 after the thread's previous CLOCK record in this chunk (its
                                 first one after its KEYFRAME: microseconds since the clock
                                 origin of the metadata, ``meta["clock"]["origin_ns"]``).  It
                                 is written just before every CALL and RETURN record and every
                                 POP, and gives the time of that record: a call lasts from its
                                 CALL to its RETURN (or to the POP that drops its frame), so
                                 every recorded call has a start and a duration.  The clock is
                                 read when the recorder sees the event: a duration includes the
                                 recording of the call's own steps.  Files without CLOCK
                                 records (1.0, 1.1, or recorded with timings off) have no times.

Values (1.3): V.OBJECT is an instance of a class with object's own repr
("<mod.Point object at 0x…>", which shows none of its state) recorded with its
attributes: `len, utf-8` of that repr text, then `total, shown` and `shown`
attributes, each `len, utf-8` of its name and its value (nested at one more
level of depth).  Its text is the repr; its attributes are what the past view
expands and what expressions such as ``p.x`` read.  Written only when the
metadata says ``"attributes": true``.

Values (1.4): V.FMT is an object whose class's __repr__ only formats some of its
attributes (reprreads.template), recorded by their values: `count` pieces, each a
literal (0, `len, utf-8`) or a field: a conversion byte (1: str(), 2: repr(), 3:
format() with the spec that follows as `len, utf-8`), then the value (an int, float,
str, bool or None, encoded as usual).  Its text is the pieces joined, the fields
converted; the recorder made sure it is what repr() gave.  Written only when the
metadata says ``"repr_templates": true``.

Values (1.5): a str() or repr() field of a V.FMT may hold another V.FMT (an object
whose class's __repr__ is itself such a template: ``repr(self.point)``); the field's
text is that value's text.

Readers keep each local as a Node (a container, see apply_value_op) or a
(text, truncated) pair; a Node reads like that pair, ``node[0]`` rendering
its text.

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
FORMAT_MINOR = 5  # 1.1: E.ITEMS; 1.2: E.CLOCK (call and return times); 1.3: V.OBJECT; 1.4: V.FMT
# 1.5: a V.FMT inside a V.FMT

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
    ITEMS = 0x52
    MARK = 0x60
    CLOCK = 0x49


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
    OBJECT = 0x24  # (1.3) an object with the default repr, and its attributes
    FMT = 0x25  # (1.4) a repr rendered from the attribute values it formats


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
    """The file header; the lowest minor version that reads it: 5 when FMT values may follow
    (``meta["repr_templates"]``: inside one another since 1.5), 3 when OBJECT values may (``meta["attributes"]``), 2 when
    CLOCK records may (``meta["clock"]``), 1 when ITEMS records may (``meta["item_diffs"]``),
    else 0, so that older readers keep reading the files they can."""
    body = json.dumps(meta, sort_keys=True).encode()
    minor = (5 if meta.get("repr_templates") else 3 if meta.get("attributes") else
             2 if meta.get("clock") else 1 if meta.get("item_diffs") else 0)
    return FILE_HEADER.pack(MAGIC, FORMAT_MAJOR, minor, len(body)) + body


def frame(kind: int, codec: int, stored: bytes, raw_len: int, info: bytes = b"",
          crc: int | None = None) -> bytes:
    """A frame; `crc`: zlib.crc32(stored, zlib.crc32(info)) when the caller has it."""
    if crc is None:
        crc = zlib.crc32(stored, zlib.crc32(info))
    head = FRAME_HEADER.pack(FRAME_MAGIC, kind, codec, len(stored), raw_len, crc, len(info))
    return head + info + stored


CHUNK_KB_MIN, CHUNK_KB_MAX = 4, 1024
"""The chunk sizes a recorder writes (KB of events before compression, option chunk_kb)."""


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


def _failed(tag: int, text: str) -> bool:
    """Whether a decoded item is a failed repr (its own, or one a nested container's
    repr met): containers' texts never start with '<'."""
    return tag == V.REPR_ERROR or (V.LIST <= tag <= V.DICT and text.startswith("<"))


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
        failed = None  # repr() of a container fails with the first item whose repr fails
        for _ in range(shown):
            start = pos
            text, c, pos = decode_value(buf, pos)
            if failed is None and _failed(buf[start], text):
                failed = text
            if tag == V.DICT:
                start = pos
                vtext, c2, pos = decode_value(buf, pos)
                if failed is None and _failed(buf[start], vtext):
                    failed = vtext
                text = f"{text}: {vtext}"
                c = c or c2
            parts.append(text)
            cut = cut or c
        if failed is not None:
            return failed, cut, pos
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
    if tag == V.OBJECT:
        n, pos = read_varint(buf, pos)
        text = buf[pos : pos + n].decode("utf-8", "surrogatepass")
        return text, False, skip_attributes(buf, pos + n)
    if tag == V.FMT:
        return _render(buf, pos)
    raise FormatError(f"unknown value tag 0x{tag:02x} at {pos - 1}")


def _scalar(buf: bytes, pos: int) -> tuple[Any, int]:
    """A field's value of a V.FMT (the types a template takes)."""
    tag = buf[pos]
    if tag == V.INT:
        n, pos = read_varint(buf, pos + 1)
        return unzigzag(n), pos
    if tag == V.FLOAT:
        return struct.unpack_from("<d", buf, pos + 1)[0], pos + 9
    if tag == V.STR:
        n, pos = read_varint(buf, pos + 1)
        return buf[pos : pos + n].decode("utf-8", "surrogatepass"), pos + n
    if V.NONE <= tag <= V.FALSE:
        return (None, True, False)[tag - V.NONE], pos + 1
    raise FormatError(f"value tag 0x{tag:02x} in a formatted repr at {pos}")


def _render(buf: bytes, pos: int) -> tuple[str, bool, int]:
    count, pos = read_varint(buf, pos)
    parts = []
    for _ in range(count):
        how = buf[pos]
        pos += 1
        if how == 0:
            n, pos = read_varint(buf, pos)
            parts.append(buf[pos : pos + n].decode("utf-8", "surrogatepass"))
            pos += n
            continue
        spec = ""
        if how == 3:
            n, pos = read_varint(buf, pos)
            spec = buf[pos : pos + n].decode("utf-8")
            pos += n
        elif how not in (1, 2):
            raise FormatError(f"unknown conversion {how} in a formatted repr at {pos - 1}")
        if how != 3 and buf[pos] == V.FMT:  # an object shown by its own template
            text, _cut, pos = _render(buf, pos + 1)
            parts.append(text)
            continue
        value, pos = _scalar(buf, pos)
        try:
            parts.append(str(value) if how == 1 else repr(value) if how == 2
                         else format(value, spec))
        except (ValueError, TypeError) as exc:
            raise FormatError(f"bad format spec {spec!r} in a formatted repr: {exc}") from None
    return "".join(parts), False, pos


def skip_value(buf: bytes, pos: int) -> int:
    return decode_value(buf, pos)[2]


def skip_attributes(buf: bytes, pos: int) -> int:
    """The position after the attributes of a V.OBJECT (`pos`: after its repr text)."""
    _total, pos = read_varint(buf, pos)
    shown, pos = read_varint(buf, pos)
    for _ in range(shown):
        n, pos = read_varint(buf, pos)
        pos = skip_value(buf, pos + n)
    return pos


def object_attributes(buf: bytes, pos: int) -> tuple[int, list[tuple[str, int, int]]]:
    """Of the V.OBJECT at `pos`: (its number of attributes, [(name, start, end) of the value
    of each recorded attribute])."""
    n, pos = read_varint(buf, pos + 1)
    total, pos = read_varint(buf, pos + n)
    shown, pos = read_varint(buf, pos)
    out = []
    for _ in range(shown):
        n, pos = read_varint(buf, pos)
        name = buf[pos : pos + n].decode("utf-8", "surrogatepass")
        end = skip_value(buf, pos + n)
        out.append((name, pos + n, end))
        pos = end
    return total, out


# ---- values that change item by item (E.ITEMS) ------------------------------------

_EMPTY = {V.LIST: "[]", V.TUPLE: "()", V.SET: "set()", V.FROZENSET: "frozenset()", V.DICT: "{}"}


class Node:
    """A container value as recorded, patched in place by E.ITEMS records.

    Reads like ``(text, truncated)``: ``node[0]`` is its repr text (rendered
    when asked, then cached until the next patch), ``node[1]`` whether
    something in it was cut.
    """

    __slots__ = ("tag", "total", "items", "keys", "_text", "_cut")

    def __init__(self, tag: int, total: int, items: list[Any], keys: list[Any] | None) -> None:
        self.tag = tag
        self.total = total
        self.items = items  # Node or (text, truncated) per shown item (a dict's: the values)
        self.keys = keys  # a dict's keys, likewise
        self._text: str | None = None
        self._cut = False

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> Any:
        if self._text is None:
            self._render()
        return (self._text, self._cut)[i]

    def __iter__(self) -> Any:
        return iter((self[0], self[1]))

    def _render(self) -> None:
        parts = []
        cut = False
        failed = None  # as decode_value: the first item whose repr fails is the container's
        for i, item in enumerate(self.items):
            text, c = item[0], item[1]
            if self.keys is not None:
                ktext, kc = self.keys[i][0], self.keys[i][1]
                if failed is None and _failed_item(self.keys[i], ktext):
                    failed = ktext
                text = f"{ktext}: {text}"
                c = c or kc
            if failed is None and _failed_item(item, item[0]):
                failed = item[0]
            parts.append(text)
            cut = cut or c
        if failed is not None:
            self._text, self._cut = failed, cut
            return
        shown = len(self.items)
        if shown < self.total:
            parts.append(f"{ELLIPSIS}{self.total - shown} more")
            cut = True
        if not parts:
            self._text = _EMPTY[self.tag]
        else:
            body = ", ".join(parts)
            if self.tag == V.TUPLE and self.total == 1:
                body += ","
            self._text = _OPEN[self.tag] + body + _CLOSE[self.tag]
        self._cut = cut


class _Failed(tuple):  # type: ignore[type-arg]
    """An item's (text, truncated) when its repr failed."""

    __slots__ = ()


def _failed_item(item: Any, text: str) -> bool:
    return isinstance(item, _Failed) or (isinstance(item, Node) and text.startswith("<"))


def decode_node(buf: bytes, pos: int) -> tuple[Any, int]:
    """Decode one value at `pos` as a Node (builtin containers) or a (text, truncated) pair."""
    tag = buf[pos]
    if not V.LIST <= tag <= V.DICT:
        text, cut, pos = decode_value(buf, pos)
        return (_Failed((text, cut)) if tag == V.REPR_ERROR else (text, cut)), pos
    total, pos = read_varint(buf, pos + 1)
    shown, pos = read_varint(buf, pos)
    items: list[Any] = []
    keys: list[Any] | None = [] if tag == V.DICT else None
    for _ in range(shown):
        if keys is not None:
            key, pos = decode_node(buf, pos)
            keys.append(key)
        item, pos = decode_node(buf, pos)
        items.append(item)
    return Node(tag, total, items, keys), pos


VALUE_OPS = frozenset({E.SET, E.DEL, E.ITEMS})


class Shown(tuple):  # type: ignore[type-arg]
    """A container value as SET wrote it: ``(text, truncated)``, plus where it is encoded,
    so that an ITEMS record can turn it into a Node (only then are its items decoded)."""

    __slots__ = ()
    at: tuple[bytes, int]

    def __new__(cls, text: str, cut: bool, buf: bytes, pos: int) -> Shown:
        self = super().__new__(cls, (text, cut, buf, pos))
        return self

    def __len__(self) -> int:
        return 2

    def __iter__(self) -> Any:
        return iter((tuple.__getitem__(self, 0), tuple.__getitem__(self, 1)))

    def node(self) -> Node:
        return decode_node(tuple.__getitem__(self, 2), tuple.__getitem__(self, 3))[0]

    @property
    def encoded(self) -> tuple[bytes, int]:
        """(payload, position) of the value's encoding."""
        return tuple.__getitem__(self, 2), tuple.__getitem__(self, 3)


def apply_value_op(values: dict[int, Any], op: int, buf: bytes, pos: int) -> int:
    """Apply a SET, DEL or ITEMS record (op already read) to a frame's values
    (name id -> Node, Shown or (text, truncated)); returns the position after it."""
    name, pos = read_varint(buf, pos)
    if op == E.SET:
        start = pos
        text, cut, pos = decode_value(buf, pos)
        values[name] = Shown(text, cut, buf, start) if V.LIST <= buf[start] <= V.DICT else (
            text, cut)
        return pos
    if op == E.DEL:
        values.pop(name, None)
        return pos
    depth, pos = read_varint(buf, pos)
    node = values.get(name)
    if isinstance(node, Shown):
        node = values[name] = node.node()
    chain = [node]
    for _ in range(depth):
        index, pos = read_varint(buf, pos)
        if not isinstance(node, Node) or index >= len(node.items):
            raise FormatError(f"ITEMS record at {pos} does not match the recorded value")
        if isinstance(node.items[index], Shown):
            node.items[index] = node.items[index].node()
        node = node.items[index]
        chain.append(node)
    if not isinstance(node, Node):
        raise FormatError(f"ITEMS record at {pos} for a value that is not a container")
    total, pos = read_varint(buf, pos)
    shown, pos = read_varint(buf, pos)
    count, pos = read_varint(buf, pos)
    node.total = total
    del node.items[shown:]
    node.items.extend([None] * (shown - len(node.items)))
    if node.keys is not None:
        del node.keys[shown:]
        node.keys.extend([None] * (shown - len(node.keys)))
    for _ in range(count):
        index, pos = read_varint(buf, pos)
        if node.keys is not None:
            node.keys[index], pos = decode_node(buf, pos)
        node.items[index], pos = decode_node(buf, pos)
    for n in chain:
        n._text = None  # type: ignore[union-attr]
    return pos
