"""The recording, exported, matches a plain sys.settrace recorder event for
event and repr for repr (outside explicit truncation), on real programs."""

from __future__ import annotations

import pytest

from .conftest import PROGRAMS, assert_same, export, record, reference

PROGRAM_NAMES = ["basics", "threads_app", "generators_app", "async_app", "recursion_app",
                 "exceptions_app", "mutation_app"]


@pytest.mark.parametrize("backend", ["native", "python"])
@pytest.mark.parametrize("name", PROGRAM_NAMES)
def test_recording_matches_reference(tmp_path, name, backend):
    program = PROGRAMS / f"{name}.py"
    ours = record(program, tmp_path / "rec.dsrec", options={"backend": backend})
    ref = reference(program, tmp_path / "ref.jsonl")
    assert ours.returncode == ref.returncode == 0, ours.stderr + ref.stderr
    assert ours.stdout == ref.stdout
    events = export(tmp_path / "rec.dsrec")
    import json

    ref_events = [json.loads(line) for line in (tmp_path / "ref.jsonl").read_text().splitlines()]
    assert len(ref_events) > 10
    assert_same(events, ref_events)
