"""The chunk scanner's LZ4 block decoder (devsandbox._timescan.lz4_block), which the server
uses instead of the lz4 package to read a recording's chunks: the same bytes as
lz4.block.decompress for what lz4 compresses, an error (never a crash or a read out of
bounds) for corrupt or truncated blocks, and recordings read through it equal to their
export."""

from __future__ import annotations

import dataclasses
import random

import lz4.block
import pytest

from devsandbox.recording import reader
from devsandbox.recording.reader import FormatError, Recording

native = pytest.importorskip("devsandbox._timescan")


def _samples(rng: random.Random) -> list[bytes]:
    out = [b"", b"x", b"abcd" * 3, bytes(range(256)) * 4, b"\0" * 70_000]
    for n in (5, 17, 300, 4096, 65_600, 140_000):
        out.append(rng.randbytes(n))  # incompressible: literals only
        out.append(bytes(rng.choice(b"\0\0\0\1\xff") for _ in range(n)))  # short matches
        out.append((b"locals x=1 y=[1, 2, 3] " * (n // 20 + 1))[:n])  # long, overlapping matches
    return out


@pytest.mark.parametrize("mode", ["default", "fast", "high_compression"])
def test_same_bytes_as_lz4(mode: str) -> None:
    rng = random.Random(4)
    for data in _samples(rng):
        block = lz4.block.compress(data, store_size=False, mode=mode)
        assert native.lz4_block(block, len(data)) == data
        assert native.lz4_block(memoryview(block), len(data) + 100) == data  # room to spare
        if data:
            with pytest.raises(ValueError, match="corrupt LZ4 block"):
                native.lz4_block(block, len(data) - 1)  # does not fit


def test_corrupt_blocks_are_errors() -> None:
    rng = random.Random(11)
    agreed = 0
    for data in _samples(rng)[:12]:
        block = lz4.block.compress(data, store_size=False)
        for _ in range(60):
            bad = bytearray(block)
            if bad:
                for _ in range(rng.randrange(1, 4)):
                    bad[rng.randrange(len(bad))] = rng.randrange(256)
            for variant in (bytes(bad), bytes(bad[: rng.randrange(len(bad) + 1)])):
                try:
                    ours = native.lz4_block(variant, len(data))
                except ValueError:
                    continue
                assert len(ours) <= len(data)
                try:
                    theirs = lz4.block.decompress(variant, uncompressed_size=len(data))
                except Exception:  # noqa: BLE001 - lz4 also checks its end-of-block rules
                    continue
                assert ours == theirs
                agreed += 1
    assert agreed > 0
    with pytest.raises(ValueError):
        native.lz4_block(b"\x10", 10)  # a literal announced, none there
    with pytest.raises(ValueError):
        native.lz4_block(b"\x00\x01\x00", 10)  # a match before any output


def test_recording_read_without_lz4(loop_recording, monkeypatch) -> None:
    """Every event of a recording read through our decoder and through lz4 is the same,
    and a chunk that does not decode is a FormatError."""
    path, _truth = loop_recording
    with Recording(str(path)) as rec:
        # chunks that do not get smaller are stored as they are
        codecs = {ch.codec for ch in rec._chunks}
        assert reader.fmt.Codec.LZ4 in codecs
        assert codecs <= {reader.fmt.Codec.LZ4, reader.fmt.Codec.RAW}
        ours = [e.to_json(rec.thread_names()) for e in rec.events(marks=True)]
        chunk = next(ch for ch in rec._chunks if ch.codec == reader.fmt.Codec.LZ4)
        with pytest.raises(FormatError, match="corrupt LZ4 data in the frame at"):
            rec._payload(dataclasses.replace(chunk, raw=chunk.raw - 1))
    monkeypatch.setattr(reader, "_lz4_block", None)
    with Recording(str(path)) as rec:
        assert [e.to_json(rec.thread_names()) for e in rec.events(marks=True)] == ours
