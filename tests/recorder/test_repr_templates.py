"""Reprs that only format attributes are recorded as the attributes' values (V.FMT) and
rendered by the reader; reprs that are not such templates, or values a template cannot
stand for, still go through repr().  Fidelity against the reference recorder is in
test_fidelity (repr_templates_app)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from devsandbox.recorder import format as fmt
from devsandbox.recorder import reprreads

from .conftest import PROGRAMS, comparable, export, record

LIMIT = 10


class Point:
    __slots__ = ("x", "y")

    def __repr__(self):
        return "P(%s, %r)" % (self.x, self.y)


@dataclass
class Item:
    name: str
    qty: int


class Spec:
    def __repr__(self):
        return f"S({self.v:>8.2f}|{self.w!r})" + "/{:x}".format(self.n)


class Width:
    def __repr__(self):
        return "W(%5s)" % self.v


class ConvertedThenPadded:
    def __repr__(self):
        return f"C({self.v!s:>9})"


class Upper:
    def __repr__(self):
        return f"U({str(self.v).upper()})"


class Test:
    def __repr__(self):
        return f"T({self.v if self.v else '-'})"


class Global:
    def __repr__(self):
        return f"G({self.v}, {LIMIT})"


class Arith:
    def __repr__(self):
        return f"A({self.v * 2})"


class Sliced:
    def __repr__(self):
        return f"L({str(self.v)[:3]})"


class Percent:
    def __repr__(self):
        return "Pc(%f, %.2e, %i, %g, %s %%)" % (self.a, self.b, self.n, self.a, self.w)


class PercentWidth:
    def __repr__(self):
        return "PW(%8.3f)" % self.a


class PercentKey:
    def __repr__(self):
        return "PK(%(a)f)" % {"a": self.a}


class PercentLiteral:
    def __repr__(self):
        return "PL(%f" + str(self.a) + ")"


def _template(cls):
    return reprreads.template(cls, reprreads.reads(cls))


def test_templates_of_formatting_reprs():
    assert _template(Point) == ("P(", (0, "s", "", 31, 0, False), ", ", (1, "r", "", 31, 0, False), ")")
    item = _template(Item)
    assert item[0] == "test_templates_of_formatting_reprs.<locals>.Item(name=" or item[0].endswith("Item(name=")
    assert [p[1] for p in item if not isinstance(p, str)] == ["r", "r"]
    spec = _template(Spec)
    names = reprreads.reads(Spec)
    fields = [(names[p[0]], p[1], p[2]) for p in spec if not isinstance(p, str)]
    assert fields == [("v", "f", ">8.2f"), ("w", "r", ""), ("n", "f", "x")]
    pct = _template(Percent)
    names = reprreads.reads(Percent)
    fields = [(names[p[0]], p[1], p[2]) for p in pct if not isinstance(p, str)]
    assert fields == [("a", "f", "f"), ("b", "f", ".2e"), ("n", "f", "d"), ("a", "f", "g"),
                      ("w", "s", "")]
    assert [p for p in pct if isinstance(p, str)] == ["Pc(", ", ", ", ", ", ", ", ", " %)"]


def test_reprs_that_are_not_templates():
    for cls in (Width, ConvertedThenPadded, Upper, Test, Global, Arith, Sliced, PercentWidth,
                PercentKey, PercentLiteral):
        assert _template(cls) is None, cls.__name__


def test_reprs_reading_data_outside_the_instance():
    assert reprreads.reads_data(Global)
    for cls in (Point, Item, Spec, Upper):
        assert not reprreads.reads_data(cls), cls.__name__


def _event_payloads(path):
    data = path.read_bytes()
    meta, _minor, pos = fmt.parse_file_header(data)
    while pos + fmt.FRAME_HEADER.size <= len(data):
        magic, kind, codec, stored, raw, _crc, info = fmt.FRAME_HEADER.unpack_from(data, pos)
        if magic != fmt.FRAME_MAGIC:
            break
        start = pos + fmt.FRAME_HEADER.size + info
        if kind == fmt.K.EVENTS:
            yield fmt.decompress(codec, data[start:start + stored], raw)
        pos = start + stored
    assert meta


def test_recording_writes_values_instead_of_repr_text(tmp_path):
    program = PROGRAMS / "repr_templates_app.py"
    on, off = tmp_path / "on.dsrec", tmp_path / "off.dsrec"
    assert record(program, on, options={"backend": "native"}).returncode == 0
    assert record(program, off, options={"backend": "native", "repr_templates": False}).returncode == 0
    # V.FMT, 7 pieces, the literal "<Point: x=" (10 bytes): Point's repr was not called
    point = bytes([fmt.V.FMT, 7, 0, 10]) + b"<Point: x="
    assert any(point in payload for payload in _event_payloads(on))
    assert not any(point in payload for payload in _event_payloads(off))
    # a Ray's repr() shows repr() of its Vecs, each rendered from its own values (1.5)
    ray = bytes([fmt.V.FMT, 5, 0, 4]) + b"Ray(" + bytes([2, fmt.V.FMT, 5, 0, 4]) + b"Vec("
    assert any(ray in payload for payload in _event_payloads(on))
    assert not any(ray in payload for payload in _event_payloads(off))
    # "%f" % self.x: format() with "f" (9 pieces, the literal "GVector(", a field with a spec)
    gvector = bytes([fmt.V.FMT, 9, 0, 8]) + b"GVector(" + bytes([3, 1]) + b"f"
    assert any(gvector in payload for payload in _event_payloads(on))
    assert fmt.parse_file_header(on.read_bytes())[1] == 5
    assert [comparable(e) for e in export(on)] == [comparable(e) for e in export(off)]


def test_rendering_matches_python():
    """The reader's rendering of every field kind is what repr() of the object showed."""
    parts = [(1, 0.1), (2, "it's"), (3, "08.3f", math.pi), (1, None), (2, True), (3, ",", 10**12),
             (3, "^7", "ab"), (1, -0.0), (2, float("nan"))]
    buf = bytearray([fmt.V.FMT, len(parts) + 1, 0, 1]) + b"<"
    for how, *rest in parts:
        buf.append(how)
        if how == 3:
            spec = rest.pop(0).encode()
            buf += bytes([len(spec)]) + spec
        value = rest[0]
        if value is None or isinstance(value, bool):
            buf.append({None: fmt.V.NONE, True: fmt.V.TRUE, False: fmt.V.FALSE}[value])
        elif isinstance(value, int):
            buf.append(fmt.V.INT)
            buf += fmt.varint(fmt.zigzag(value))
        elif isinstance(value, float):
            import struct

            buf.append(fmt.V.FLOAT)
            buf += struct.pack("<d", value)
        else:
            enc = value.encode()
            buf += bytes([fmt.V.STR, len(enc)]) + enc
    text, cut, end = fmt.decode_value(bytes(buf), 0)
    assert end == len(buf) and not cut
    assert text == "<" + "0.1" + "\"it's\"" + "0003.142" + "None" + "True" + "1,000,000,000,000" \
        + "  ab   " + "-0.0" + "nan"


def test_rendering_of_a_template_inside_a_template():
    """A str() or repr() field holding a V.FMT shows that value's text as it is."""
    import struct

    inner = bytearray([fmt.V.FMT, 3, 0, 4]) + b"Vec(" + bytes([1, fmt.V.FLOAT])
    inner += struct.pack("<d", 2.5) + bytes([0, 1]) + b")"
    buf = bytearray([fmt.V.FMT, 5, 0, 4]) + b"Ray(" + bytes([2]) + inner + bytes([0, 1]) + b","
    buf += bytes([1]) + inner + bytes([0, 1]) + b")"
    text, cut, end = fmt.decode_value(bytes(buf), 0)
    assert (text, cut, end) == ("Ray(Vec(2.5),Vec(2.5))", False, len(buf))
    spec = bytearray([fmt.V.FMT, 1, 3, 1]) + b"s" + inner  # format() with a spec: not a V.FMT
    try:
        fmt.decode_value(bytes(spec), 0)
    except fmt.FormatError as exc:
        assert "formatted repr" in str(exc)
    else:
        raise AssertionError("a V.FMT under a format spec was read")


def test_an_instance_being_built_is_not_repr_called(tmp_path):
    """While __init__ sets its attributes one by one, `self` shows "<repr failed:
    AttributeError>": once three repr() calls showed that, it is written without one."""
    import textwrap

    program = tmp_path / "building.py"
    program.write_text(textwrap.dedent("""
        from devsandbox import _tracer

        class Vec:
            def __init__(self, x, y):
                self.x = x
                self.y = y

            def __repr__(self):
                return "Vec(%s, %s)" % (self.x, self.y)

        vs = [Vec(i, i / 2) for i in range(200)]
        print({row[0]: row[5] for row in _tracer.type_costs()}["Vec"])
    """))
    on, off = tmp_path / "on.dsrec", tmp_path / "off.dsrec"
    proc = record(program, on, options={"backend": "native"})
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) <= 8  # the first and the checks: not one per instance built
    proc = record(program, off, options={"backend": "native", "repr_templates": False})
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) >= 3 * 200  # without templates: each time it is shown unfinished
    events = export(on)
    shown = [e["locals"]["self"] for e in events if e["function"] == "Vec.__init__"]
    assert shown.count("<repr failed: AttributeError>") == 3 * 200  # call and two lines
    assert "Vec(199, 99.5)" in shown
    built = [comparable(e) for e in events if e["function"] == "Vec.__init__"]
    assert built == [comparable(e) for e in export(off) if e["function"] == "Vec.__init__"]


def test_record_command_can_turn_templates_off(tmp_path):
    import subprocess
    import sys

    from .conftest import env

    program = PROGRAMS / "repr_templates_app.py"
    out = tmp_path / "cli.dsrec"
    proc = subprocess.run([sys.executable, "-m", "devsandbox", "record", "--no-repr-templates",
                           "--out", str(out), "--", str(program)], env=env(), capture_output=True,
                          text=True, timeout=120, cwd=program.parent)
    assert proc.returncode == 0, proc.stderr
    meta, minor, _ = fmt.parse_file_header(out.read_bytes())
    assert minor < 4 and not meta["repr_templates"]
    point = bytes([fmt.V.FMT, 7, 0, 10]) + b"<Point: x="
    assert not any(point in payload for payload in _event_payloads(out))
