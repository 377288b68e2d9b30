"""Chunk size (option chunk_kb): how much a crash can lose and what a reader holds at once.
Smaller chunks change nothing a reader sees, in either recorder."""

from __future__ import annotations

import pytest

from devsandbox.recording.reader import Recording

from .conftest import PROGRAMS, comparable, devsandbox, export, record

PROGRAM = PROGRAMS / "recursion_app.py"  # deep stacks: every chunk starts with keyframes


def _chunks(path) -> list[int]:
    with Recording(str(path)) as rec:
        return [ch.raw for ch in rec._chunks]


@pytest.mark.parametrize("backend", ["native", "python"])
def test_small_chunks_record_the_same_events(tmp_path, backend: str) -> None:
    big, small = tmp_path / "big.dsrec", tmp_path / "small.dsrec"
    for out, kb in ((big, 1024), (small, 4)):
        proc = record(PROGRAM, out, options={"backend": backend, "chunk_kb": kb})
        assert proc.returncode == 0, proc.stderr
    big_chunks, small_chunks = _chunks(big), _chunks(small)
    assert len(small_chunks) > len(big_chunks) >= 1
    # a chunk's events end at the first one past the limit, after the keyframes it starts
    # with (deep stacks here: a kilobyte or so)
    assert sorted(small_chunks)[len(small_chunks) // 2] < 2 * 4 * 1024, small_chunks
    assert max(small_chunks) < 4 * 4 * 1024, small_chunks
    a, b = export(big), export(small)
    assert [comparable(e) for e in a] == [comparable(e) for e in b]
    assert [(e["thread"], e["step"], e["kind"], e["line"]) for e in a] == \
        [(e["thread"], e["step"], e["kind"], e["line"]) for e in b]


def test_default_chunks_stay_small(tmp_path) -> None:
    out = tmp_path / "rec.dsrec"
    proc = record(PROGRAMS / "recursion_app.py", out)
    assert proc.returncode == 0, proc.stderr
    assert max(_chunks(out)) < 128 * 1024 + 16 * 1024


def test_record_command_takes_a_chunk_size(tmp_path) -> None:
    out = tmp_path / "rec.dsrec"
    bad = devsandbox("record", "--chunk-kb", "2", "--out", str(out), "--", str(PROGRAM))
    assert bad.returncode != 0 and "--chunk-kb must be between 4 and 1024" in bad.stderr
    assert not out.exists()
    ok = devsandbox("record", "--chunk-kb", "4", "-q", "--out", str(out), "--", str(PROGRAM),
                    cwd=PROGRAM.parent)
    assert ok.returncode == 0, ok.stderr
    assert len(_chunks(out)) > 3


@pytest.mark.parametrize("kb", [0, 3, 1025])
def test_a_chunk_size_out_of_range_is_refused(kb):
    from devsandbox.recorder import Recorder

    with pytest.raises(ValueError, match="chunk_kb must be between 4 and 1024"):
        Recorder({"chunk_kb": kb, "out": "/nonexistent/never-written.dsrec"})
