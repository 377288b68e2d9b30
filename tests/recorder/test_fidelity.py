"""The recording, exported, matches a plain sys.settrace recorder event for
event and repr for repr (outside explicit truncation), on real programs."""

from __future__ import annotations

import pytest

from .conftest import PROGRAMS, assert_same, comparable, export, record, reference

PROGRAM_NAMES = ["basics", "threads_app", "generators_app", "async_app", "recursion_app",
                 "exceptions_app", "mutation_app", "containers_app", "shortcuts_app",
                 "repr_reads_app", "repr_templates_app", "private_app",
                 "private_introspect_app", "private_skips_app", "targets_app", "shadows_app",
                 "pieces_app", "reuse_app"]


BACKENDS = {"native": {"backend": "native"},
            "native-items": {"backend": "native", "item_diffs": True},
            "python": {"backend": "python"}}


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("name", PROGRAM_NAMES)
def test_recording_matches_reference(tmp_path, name, backend):
    program = PROGRAMS / f"{name}.py"
    ours = record(program, tmp_path / "rec.dsrec", options=BACKENDS[backend])
    ref = reference(program, tmp_path / "ref.jsonl")
    assert ours.returncode == ref.returncode == 0, ours.stderr + ref.stderr
    assert ours.stdout == ref.stdout
    events = export(tmp_path / "rec.dsrec")
    import json

    ref_events = [json.loads(line) for line in (tmp_path / "ref.jsonl").read_text().splitlines()]
    assert len(ref_events) > 10
    assert_same(events, ref_events)


@pytest.mark.parametrize("limits", [{"max_items": 4, "max_depth": 2}, {"max_items": 3, "max_str": 5}])
def test_item_level_changes_match_whole_values_under_limits(tmp_path, limits):
    """The native recorder writes only the items that changed; the pure-Python recorder writes
    whole values: with truncation at every level, both read back to the same texts."""
    program = PROGRAMS / "containers_app.py"
    exports = {}
    for backend in ("native-items", "python"):
        out = tmp_path / f"{backend}.dsrec"
        proc = record(program, out, options={**BACKENDS[backend], **limits})
        assert proc.returncode == 0, proc.stderr
        exports[backend] = [comparable(e) + (tuple(sorted(e.get("truncated", ()))),)
                            for e in export(out)]
    assert exports["native-items"] == exports["python"]
    assert any(e[-1] for e in exports["native-items"])  # something was cut
