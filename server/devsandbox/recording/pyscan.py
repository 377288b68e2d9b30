"""The pure-Python passes over an events chunk, used where devsandbox._timescan is not built.

The same results as the native module (server/devsandbox/_native/timescan.c), about 50 times
slower: `scan_python` (chunks.scan_chunk), `writes_python` (chunks.writes) and `clocks_python`
(chunks.clock_times).
"""

from __future__ import annotations

from devsandbox.recorder.format import E, FormatError

from .chunks import (
    CHECKPOINT,
    ChunkScan,
    Frame,
    Summary,
    ThreadSteps,
    Write,
    _varint,
    pack_checkpoint,
    skip_value,
)


class _Thread:
    __slots__ = (
        "calls",
        "keyed",
        "lines",
        "min_depth",
        "names",
        "pop",
        "raised",
        "stack",
        "step",
        "steps",
    )

    def __init__(self, tid: int) -> None:
        self.steps = ThreadSteps(tid, 0)
        self.stack: list[Frame] = []
        self.step = 0
        self.pop = False
        self.lines: dict[int, int] = {}
        self.calls: set[int] = set()
        self.names: set[int] = set()
        self.raised = False
        self.keyed = False  # inside the keyframe
        self.min_depth = 1 << 16


def scan_python(buf: bytes, strings: list[str]) -> ChunkScan:
    threads: dict[int, _Thread] = {}
    th: _Thread | None = None
    pos, n = 0, len(buf)
    order = 0
    marks: list[tuple[int, int, str, str]] = []
    vi = _varint
    sv = skip_value
    while pos < n:
        start = pos
        op = buf[pos]
        pos += 1
        if op == E.SET:
            k, pos = vi(buf, pos)
            end = sv(buf, pos)
            top = th.stack[-1]  # type: ignore[union-attr]
            top.values[k] = (pos, end)
            top.snap = 0
            th.names.add(k)  # type: ignore[union-attr]
            pos = end
            continue
        if op == E.DEL:
            k, pos = vi(buf, pos)
            top = th.stack[-1]  # type: ignore[union-attr]
            top.values.pop(k, None)
            top.snap = 0
            th.names.add(k)  # type: ignore[union-attr]
            continue
        if th is not None and th.pop:
            th.stack.pop()
            th.pop = False
        if op == E.LINE or op == E.CALL or op == E.RETURN or op == E.EXCEPTION:
            assert th is not None
            th.keyed = False
            ts = th.steps
            idx = len(ts.kinds)
            if idx % CHECKPOINT == 0:
                pack_checkpoint(ts.cp_words, ts.cp_at, start, th.stack)
            if op == E.LINE:
                line, pos = vi(buf, pos)
                top = th.stack[-1]
                top.line = line
            elif op == E.CALL:
                fid, pos = vi(buf, pos)
                code, pos = vi(buf, pos)
                line, pos = vi(buf, pos)
                top = Frame(fid, code, line, {})
                th.stack.append(top)
                th.calls.add(code)
            elif op == E.RETURN:
                line, pos = vi(buf, pos)
                pos = sv(buf, pos)
                top = th.stack[-1]
                top.line = line
                th.pop = True
            else:
                line, pos = vi(buf, pos)
                _ty, pos = vi(buf, pos)
                pos = sv(buf, pos)
                top = th.stack[-1]
                top.line = line
                th.raised = True
            top.snap = 0  # its line changed: the next checkpoint writes it again
            code = top.code
            if op == E.LINE:
                key = (code << 24) | line
                lines = th.lines
                lines[key] = lines.get(key, 0) + 1
            depth = len(th.stack) - 1
            th.min_depth = min(th.min_depth, depth)
            ts.kinds.append(op)
            ts.codes.append(code)
            ts.lines.append(line)
            ts.depths.append(depth)
            ts.fids.append(top.fid)
            ts.order.append(order)
            order += 1
            th.step += 1
        elif op == E.THREAD:
            tid, pos = vi(buf, pos)
            th = threads.get(tid)
            if th is None:
                th = threads[tid] = _Thread(tid)
        elif op == E.KEYFRAME:
            step, pos = vi(buf, pos)
            _depth, pos = vi(buf, pos)
            assert th is not None
            th.step = step
            if not th.steps.kinds:
                th.steps.first = step
            th.stack = []
            th.keyed = True
        elif op == E.KFRAME or op == E.ENTER:
            fid, pos = vi(buf, pos)
            code, pos = vi(buf, pos)
            line, pos = vi(buf, pos)
            th.stack.append(Frame(fid, code, line, {}))  # type: ignore[union-attr]
        elif op == E.POP:
            k, pos = vi(buf, pos)
            del th.stack[len(th.stack) - k:]  # type: ignore[union-attr]
        elif op == E.MARK:
            kind, pos = vi(buf, pos)
            ln, pos = vi(buf, pos)
            text = buf[pos:pos + ln].decode("utf-8", "replace")
            pos += ln
            if th is not None:
                marks.append((th.steps.tid, th.step - 1, strings[kind], text))
        elif op == E.CLOCK:  # times: see clocks_python
            _t, pos = vi(buf, pos)
        else:
            raise FormatError(f"unknown event record 0x{op:02x} at {start}")
    summary = Summary(
        lines={t: x.lines for t, x in threads.items()},
        calls={t: frozenset(x.calls) for t, x in threads.items()},
        names={t: frozenset(x.names) for t, x in threads.items()},
        raised={t: x.raised for t, x in threads.items()},
        min_depth={t: x.min_depth for t, x in threads.items()},
        marks=marks,
    )
    return ChunkScan(buf, {t: x.steps for t, x in threads.items() if x.steps.kinds}, summary, order)


def writes_python(buf: bytes, tid: int, names: frozenset[int] | set[int],
                  fids: frozenset[int] | set[int] | None,
                  codes: frozenset[int] | set[int] | None) -> list[Write]:
    out: list[Write] = []
    stack: list[tuple[int, int]] = []  # (fid, code)
    pos, n = 0, len(buf)
    mine = False
    index = -1
    keyed = False
    pop = False
    vi = _varint
    while pos < n:
        op = buf[pos]
        pos += 1
        if op == E.SET or op == E.DEL:
            k, pos = vi(buf, pos)
            end = skip_value(buf, pos) if op == E.SET else pos
            if mine and k in names:
                fid, code = stack[-1]
                if (fids is None or fid in fids) and (codes is None or code in codes):
                    out.append((index, fid, code, k, (pos, end) if op == E.SET else None, keyed))
            pos = end
            continue
        if mine and pop:
            stack.pop()
            pop = False
        if op == E.LINE:
            while buf[pos] & 0x80:
                pos += 1
            pos += 1
            if mine:
                index += 1
                keyed = False
        elif op == E.THREAD:
            t, pos = vi(buf, pos)
            mine = t == tid
        elif op == E.CALL or op == E.ENTER or op == E.KFRAME:
            fid, pos = vi(buf, pos)
            code, pos = vi(buf, pos)
            _line, pos = vi(buf, pos)
            if mine:
                stack.append((fid, code))
                if op == E.CALL:
                    index += 1
                keyed = op != E.CALL  # an entered frame's values are not writes
        elif op == E.RETURN:
            _line, pos = vi(buf, pos)
            pos = skip_value(buf, pos)
            if mine:
                index += 1
                keyed = False
                pop = True
        elif op == E.EXCEPTION:
            _line, pos = vi(buf, pos)
            _ty, pos = vi(buf, pos)
            pos = skip_value(buf, pos)
            if mine:
                index += 1
                keyed = False
        elif op == E.POP:
            k, pos = vi(buf, pos)
            if mine:
                del stack[len(stack) - k:]
        elif op == E.KEYFRAME:
            _s, pos = vi(buf, pos)
            _d, pos = vi(buf, pos)
            if mine:
                stack = []
                keyed = True
        elif op == E.MARK:
            _k, pos = vi(buf, pos)
            ln, pos = vi(buf, pos)
            pos += ln
        elif op == E.CLOCK:
            _t, pos = vi(buf, pos)
        else:
            raise FormatError(f"unknown event record 0x{op:02x} at {pos - 1}")
    return out


def clocks_python(buf: bytes, tid: int) -> dict[int, int]:
    """{step index: µs since the clock origin} of the steps of `tid` a CLOCK record dates."""
    out: dict[int, int] = {}
    pos, n = 0, len(buf)
    mine = dated = False
    index = clock = 0
    vi = _varint
    while pos < n:
        op = buf[pos]
        pos += 1
        if op == E.SET:
            _k, pos = vi(buf, pos)
            pos = skip_value(buf, pos)
        elif op == E.DEL or op == E.POP:
            _k, pos = vi(buf, pos)
        elif op == E.THREAD:
            t, pos = vi(buf, pos)
            mine = t == tid
        elif op == E.CLOCK:
            delta, pos = vi(buf, pos)
            if mine:
                clock += delta
                dated = True
        elif op == E.KEYFRAME:
            _s, pos = vi(buf, pos)
            _d, pos = vi(buf, pos)
            if mine:
                clock, dated = 0, False
        elif op == E.KFRAME or op == E.ENTER:
            for _ in range(3):
                _v, pos = vi(buf, pos)
        elif op == E.MARK:
            _k, pos = vi(buf, pos)
            ln, pos = vi(buf, pos)
            pos += ln
        elif op in (E.LINE, E.CALL, E.RETURN, E.EXCEPTION):
            for _ in range({E.CALL: 3, E.EXCEPTION: 2}.get(op, 1)):
                _v, pos = vi(buf, pos)
            if op == E.RETURN or op == E.EXCEPTION:
                pos = skip_value(buf, pos)
            if mine:
                if dated:
                    out[index] = clock
                    dated = False
                index += 1
        else:
            raise FormatError(f"unknown event record 0x{op:02x} at {pos - 1}")
    return out
