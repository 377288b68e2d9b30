"""Time travel over recordings made with item diffs (format 1.1, E.ITEMS records).

The time-travel passes (chunks.scan_chunk, the native _timescan and its Python fallback
pyscan, writes, changes, history) follow locals as byte spans of SET records.  An ITEMS
record says how a container local changed item by item, which only a reader that keeps the
container's items can apply (a dict's items carry keys, a list's do not, and an item may be
a container an earlier ITEMS record put there).  So, for time travel, a chunk of a recording
that may hold ITEMS records is rewritten once, when read (`as_sets`): each run of ITEMS
records becomes one SET record per local it patched, holding the local's whole patched
value, encoded as the recorder encodes a container.  Every later pass then sees each patch
as a write of that local (value history, last writer, data breakpoints, summaries) and
every step's locals as `format.apply_value_op` gives them.  Recordings without item diffs
are not touched.
"""

from __future__ import annotations

from typing import Any

from devsandbox.recorder.format import E, FormatError, V, varint

from . import chunks
from .chunks import _varint, skip_value

# A value while rewriting: a builtin container as [tag, total, items, keys or None, its
# encoding or None] (items and keys: values), anything else as the bytes of its encoding.
Tree = Any


def _tree(buf: bytes, pos: int) -> tuple[Tree, int]:
    tag = buf[pos]
    if not V.LIST <= tag <= V.DICT:
        end = skip_value(buf, pos)
        return bytes(buf[pos:end]), end
    total, pos = _varint(buf, pos + 1)
    shown, pos = _varint(buf, pos)
    items: list[Tree] = []
    keys: list[Tree] | None = [] if tag == V.DICT else None
    for _ in range(shown):
        if keys is not None:
            key, pos = _tree(buf, pos)
            keys.append(key)
        item, pos = _tree(buf, pos)
        items.append(item)
    return [tag, total, items, keys, None], pos


def _encode(tree: Tree) -> bytes:
    """The encoding of a value (a container's is kept until a patch changes it)."""
    if tree.__class__ is bytes:
        return tree  # type: ignore[no-any-return]
    if tree is None:
        raise FormatError("an ITEMS record left an item of a container unset")
    cached = tree[4]
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    tag, total, items, keys, _ = tree
    parts = [bytes((tag,)), varint(total), varint(len(items))]
    if keys is None:
        for item in items:
            parts.append(item if item.__class__ is bytes else _encode(item))
    else:
        for key, item in zip(keys, items):
            parts.append(key if key.__class__ is bytes else _encode(key))
            parts.append(item if item.__class__ is bytes else _encode(item))
    tree[4] = out = b"".join(parts)
    return out


def _apply_items(values: dict[int, Any], buf: bytes, pos: int, at: int) -> tuple[int, int]:
    """Apply the ITEMS record whose body starts at `pos` to a frame's values (name id ->
    (start, end) span of a SET value, or a Tree once patched); (name id, next position)."""
    name, pos = _varint(buf, pos)
    depth, pos = _varint(buf, pos)
    node = values.get(name)
    if isinstance(node, tuple):
        node = values[name] = _tree(buf, node[0])[0]
    if isinstance(node, list):
        node[4] = None
    for _ in range(depth):
        index, pos = _varint(buf, pos)
        if not isinstance(node, list) or index >= len(node[2]):
            raise FormatError(f"ITEMS record at {at} does not match the recorded value")
        node = node[2][index]
        if isinstance(node, list):
            node[4] = None
    if not isinstance(node, list):
        raise FormatError(f"ITEMS record at {at} for a value that is not a container")
    total, pos = _varint(buf, pos)
    shown, pos = _varint(buf, pos)
    count, pos = _varint(buf, pos)
    node[1] = total
    items, keys = node[2], node[3]
    del items[shown:]
    items.extend([None] * (shown - len(items)))
    if keys is not None:
        del keys[shown:]
        keys.extend([None] * (shown - len(keys)))
    for _ in range(count):
        index, pos = _varint(buf, pos)
        if index >= shown:
            raise FormatError(f"ITEMS record at {at} does not match the recorded value")
        if keys is not None:
            keys[index], pos = _tree(buf, pos)
        items[index], pos = _tree(buf, pos)
    return name, pos


def _write_sets(out: bytearray, values: dict[int, Any], names: list[int]) -> None:
    """A SET record of each patched local's whole value, in the order given."""
    for name in names:
        out.append(E.SET)
        out += varint(name)
        out += _encode(values[name])


def as_sets(buf: bytes) -> bytes:
    """The events chunk `buf` with each run of ITEMS records replaced by SET records of the
    whole patched values (one per local, in the order the run first patched them); `buf`
    itself when it holds no ITEMS record."""
    if chunks.native is not None:
        try:
            return chunks.native.as_sets(buf)  # type: ignore[no-any-return]
        except ValueError as exc:
            raise FormatError(str(exc)) from None
    return as_sets_python(buf)


def as_sets_python(buf: bytes) -> bytes:
    """as_sets where devsandbox._timescan is not built (its itemdiffs.c is the same pass,
    about 100 times faster)."""
    out = bytearray()
    copied = 0  # buf[:copied] is in out (or replaced)
    stacks: dict[int, list[dict[int, Any]]] = {}
    stack: list[dict[int, Any]] = []
    pop = False
    run: list[int] = []  # names patched by the current run of ITEMS records
    pos, n = 0, len(buf)
    vi = _varint
    while pos < n:
        start = pos
        op = buf[pos]
        pos += 1
        if op == E.ITEMS:
            if not run:
                out += buf[copied:start]
            name, pos = _apply_items(stack[-1], buf, pos, start)
            if name not in run:
                run.append(name)
            copied = pos
            continue
        if run:
            _write_sets(out, stack[-1], run)
            run = []
        if op == E.SET:
            k, pos = vi(buf, pos)
            end = skip_value(buf, pos)
            stack[-1][k] = (pos, end)
            pos = end
            continue
        if op == E.DEL:
            k, pos = vi(buf, pos)
            stack[-1].pop(k, None)
            continue
        if pop:
            stack.pop()
            pop = False
        if op == E.LINE or op == E.CLOCK:
            _v, pos = vi(buf, pos)
        elif op == E.THREAD:
            t, pos = vi(buf, pos)
            stack = stacks.setdefault(t, [])
        elif op == E.CALL or op == E.ENTER or op == E.KFRAME:
            for _ in range(3):
                _v, pos = vi(buf, pos)
            stack.append({})
        elif op == E.RETURN:
            _v, pos = vi(buf, pos)
            pos = skip_value(buf, pos)
            pop = True
        elif op == E.EXCEPTION:
            _v, pos = vi(buf, pos)
            _v, pos = vi(buf, pos)
            pos = skip_value(buf, pos)
        elif op == E.POP:
            k, pos = vi(buf, pos)
            del stack[len(stack) - k:]
        elif op == E.KEYFRAME:
            _v, pos = vi(buf, pos)
            _v, pos = vi(buf, pos)
            stack.clear()
        elif op == E.MARK:
            _v, pos = vi(buf, pos)
            ln, pos = vi(buf, pos)
            pos += ln
        else:
            raise FormatError(f"unknown event record 0x{op:02x} at {start}")
    if run:
        _write_sets(out, stack[-1], run)
        copied = n
    if not out and copied == 0:
        return buf
    out += buf[copied:]
    return bytes(out)
