"""Private values (a container only one frame's local refers to) are not compared at steps
after lines that do not name them; the fidelity tests (private_app, private_introspect_app)
check that the recording still shows every change.  These check that the shortcut is taken
where it may be and not where it may not."""

from __future__ import annotations

import pytest

from devsandbox.recording.reader import Recording

from .conftest import PROGRAMS, record


def _end(tmp_path, name: str, options: dict | None = None) -> dict:
    out = tmp_path / f"{name}.dsrec"
    proc = record(PROGRAMS / f"{name}.py", out, options={"backend": "native", **(options or {})})
    assert proc.returncode == 0, proc.stderr
    with Recording(out) as rec:
        return dict(rec.end)


@pytest.mark.parametrize("options", [None, {"item_diffs": True}])
def test_private_values_are_skipped(tmp_path, options):
    # each step after one of the eight lines that call operator.add compares every local but
    # the table; the step after the line storing into the table compares it (with item
    # diffs, from then on through its shadow, which is private too)
    assert _end(tmp_path, "private_skips_app", options)["private_skips"] == 8


@pytest.mark.parametrize("name, options", [
    ("private_introspect_app", None),  # code names f_locals and eval
    ("private_introspect_app", {"item_diffs": True}),
])
def test_private_values_are_compared_where_they_may_have_changed(tmp_path, name, options):
    assert _end(tmp_path, name, options)["private_skips"] == 0
