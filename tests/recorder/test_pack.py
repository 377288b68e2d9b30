"""The native packer (pack.c) writes what lz4.block.decompress and zlib.crc32 read: every
chunk comes back byte for byte, with the checksum zlib computes."""

from __future__ import annotations

import os
import random
import zlib

import lz4.block
import pytest

from devsandbox.recorder import format as fmt
from devsandbox.recording.reader import Recording

from .conftest import PROGRAMS, record

_tracer = pytest.importorskip("devsandbox._tracer")


def _unpack(raw: bytes, compressed: bool, stored: bytes) -> bytes:
    """What lz4 reads back (and the server's own decoder, which reads recordings)."""
    if not compressed:
        return stored
    theirs = lz4.block.decompress(stored, uncompressed_size=len(raw))
    try:
        from devsandbox import _timescan
    except ImportError:
        return theirs
    assert _timescan.lz4_block(stored, len(raw)) == theirs
    return theirs


def _mixed(rnd: random.Random, n: int) -> bytes:
    """Runs of a small alphabet and copies of what came before (near and far)."""
    out = bytearray()
    alphabet = rnd.choice([b"ab", b"0123456789", bytes(range(256))])
    while len(out) < n:
        if out and rnd.random() < 0.5:
            k = rnd.randint(1, min(len(out), 400))
            at = rnd.randint(0, len(out) - k)
            out += out[at:at + k]
        else:
            out += bytes(rnd.choice(alphabet) for _ in range(rnd.randint(1, 50)))
    return bytes(out[:n])


@pytest.mark.parametrize("depth", [0, 1, 8, 64])
def test_chunks_round_trip_through_lz4_and_zlib(depth):
    rnd = random.Random(7)
    chunks = [b"", b"a", b"abcabcabc", b"x" * 12, b"x" * 13, b"x" * 14, b"x" * 70000,
              os.urandom(3000), bytes(range(256)) * 400]
    chunks += [_mixed(rnd, rnd.choice([5, 12, 13, 16, 17, 100, 4096, 65536, 70000, 131072]))
               for _ in range(200)]
    seeds = [rnd.randrange(1 << 32) for _ in chunks]
    packed = _tracer.pack_chunks(list(zip(chunks, seeds)), depth)
    assert len(packed) == len(chunks)
    for raw, seed, (compressed, stored, crc) in zip(chunks, seeds, packed):
        assert _unpack(raw, compressed, stored) == raw
        assert crc == zlib.crc32(stored, seed)
    # what repeats is stored smaller; what does not is stored as it is
    assert packed[6][0] and len(packed[6][1]) < 1000
    assert not packed[7][0] and packed[7][1] == chunks[7]


def test_recorded_events_round_trip_and_compress_like_lz4(tmp_path):
    out = tmp_path / "rec.dsrec"
    proc = record(PROGRAMS / "containers_app.py", out,
                  options={"chunk_kb": 4, "item_diffs": False})
    assert proc.returncode == 0, proc.stderr
    with Recording(out) as rec:
        raws = [rec._payload(fi) for fi in rec.frames if fi.kind == fmt.K.EVENTS]
    assert len(raws) > 3
    sizes = {}
    for depth in (0, 8):
        packed = _tracer.pack_chunks([(raw, 0) for raw in raws], depth)
        for raw, (compressed, stored, crc) in zip(raws, packed):
            assert _unpack(raw, compressed, stored) == raw and crc == zlib.crc32(stored)
        sizes[depth] = sum(len(stored) for _, stored, _ in packed)
    theirs = sum(len(lz4.block.compress(raw, store_size=False)) for raw in raws)
    assert sizes[0] <= 1.1 * theirs, (sizes, theirs)
    assert sizes[8] < sizes[0], sizes  # the writer thread's deeper search finds more


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError):
        _tracer.pack_chunks([("text", 0)])
    with pytest.raises(TypeError):
        _tracer.pack_chunks([b"no seed"])
    with pytest.raises(TypeError):
        _tracer.pack_chunks(5)


def test_the_writer_uses_it():
    from devsandbox.recorder import writer

    assert writer._pack_chunks is _tracer.pack_chunks
    frames = writer._pack([(fmt.K.EVENTS, b"abcd" * 1000, b"info")])
    kind, codec, stored_len, raw_len = fmt.FRAME_HEADER.unpack_from(frames[0])[1:5]
    assert (kind, codec, raw_len) == (fmt.K.EVENTS, fmt.Codec.LZ4, 4000) and stored_len < 100


def test_without_the_extension_the_writer_packs_through_lz4(monkeypatch):
    from devsandbox.recorder import writer

    monkeypatch.setattr(writer, "_pack_chunks", None)
    raw, info = b"abcd" * 1000, b"info"
    frame = writer._pack([(fmt.K.EVENTS, raw, info)])[0]
    _, kind, codec, stored_len, raw_len, crc, info_len = fmt.FRAME_HEADER.unpack_from(frame)
    stored = frame[fmt.FRAME_HEADER.size + info_len:]
    assert (kind, codec, raw_len, len(stored)) == (fmt.K.EVENTS, fmt.Codec.LZ4, 4000, stored_len)
    assert crc == zlib.crc32(stored, zlib.crc32(info))
    assert lz4.block.decompress(stored, uncompressed_size=raw_len) == raw
