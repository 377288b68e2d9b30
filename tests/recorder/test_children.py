"""Child processes of a recorded program are recorded too, each into its own file linked to
its parent's recording (a started Python process and a forked one), unless opted out."""

from __future__ import annotations

import json

from devsandbox.recording.reader import Recording

from .conftest import PROGRAMS, export, record

PARENT = PROGRAMS / "children" / "parent.py"


def _recordings(folder):
    out = {}
    for path in sorted(folder.glob("*.dsrec")):
        with Recording(str(path)) as rec:
            out[path] = (rec.meta, rec.complete)
    return out


def test_children_record_into_linked_files(tmp_path):
    proc = record(PARENT, tmp_path / "parent.dsrec")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["child 9", "forked 6", "parent done"]
    found = _recordings(tmp_path)
    parent_meta, complete = found.pop(tmp_path / "parent.dsrec")
    assert complete and parent_meta["parent_recording"] is None
    assert len(found) == 2, list(found)
    functions = {}
    for path, (meta, complete) in found.items():
        assert complete, path
        assert meta["parent_recording"] == parent_meta["id"]
        assert meta["parent_recording_file"] == str(tmp_path / "parent.dsrec")
        assert str(meta["pid"]) in path.name
        functions[path] = {e["function"] for e in export(path)}
    assert sorted(map(sorted, functions.values())) == [["<module>", "square"], ["forked"]]
    # the parent's own recording holds only its own steps
    names = {e["function"] for e in export(tmp_path / "parent.dsrec")}
    assert "main" in names and "square" not in names


def test_children_opt_out(tmp_path):
    proc = record(PARENT, tmp_path / "parent.dsrec", options={"children": False})
    assert proc.returncode == 0, proc.stderr
    assert list(_recordings(tmp_path)) == [tmp_path / "parent.dsrec"]
    meta = json.loads(json.dumps(_recordings(tmp_path)[tmp_path / "parent.dsrec"][0]))
    assert meta["parent_recording"] is None
