"""A repr() text is reused only while the object cannot have changed what it shows."""

from __future__ import annotations

from .conftest import PROGRAMS, export, record


def test_returned_object_shows_its_state_at_each_return(tmp_path):
    program = PROGRAMS / "repr_reuse_app.py"
    proc = record(program, tmp_path / "rec.dsrec", options={"backend": "native"})
    assert proc.returncode == 0, proc.stderr
    returns = [e["return"] for e in export(tmp_path / "rec.dsrec")
               if e["kind"] == "return" and e["function"] == "bump"]
    assert returns == ["Slotted(2)", "Plain(2)", "Slotted(3)", "Plain(3)",
                       "Slotted(4)", "Plain(4)"]
