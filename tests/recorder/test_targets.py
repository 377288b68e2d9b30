"""Lines that name the objects they change (attribute and item stores, list/dict/set
methods, builtins known to change nothing): the step after one compares only the locals
whose values show a changed object, in every frame of the thread.  The fidelity tests
(targets_app) check that nothing is missed; these check that the shortcut is taken."""

from __future__ import annotations

from devsandbox.recording.reader import Recording

from .conftest import PROGRAMS, export, record


def _end(tmp_path, options: dict | None = None, program: str = "targets_app") -> dict:
    out = tmp_path / f"{program}.dsrec"
    proc = record(PROGRAMS / f"{program}.py", out,
                  options={"backend": "native", **(options or {})})
    assert proc.returncode == 0, proc.stderr
    with Recording(out) as rec:
        return dict(rec.end)


def test_steps_after_lines_naming_their_changes_compare_only_what_shows_them(tmp_path):
    end = _end(tmp_path)
    # nudge() and many() change points that the callers' lists and dicts show: each of
    # those steps is targeted, as are the steps after the stores in stores_and_items()
    assert end["targeted_steps"] >= 150, end  # 206 on 3.11 and 3.13 when written


def test_item_diffs_take_the_shortcut_too(tmp_path):
    # a container's shadow keeps the objects it read, as a fingerprint does (the fidelity
    # tests run targets_app with item diffs as well)
    assert _end(tmp_path, {"item_diffs": True})["targeted_steps"] >= 150


def test_shadows_compare_only_the_objects_a_line_changed(tmp_path):
    # shadows_app: after `va[0] -= ...` or `best = best.grow(v)` (whose conditional
    # expressions compile to lines in two pieces), the locals showing the changed list or
    # object compare the shadows of that one alone, wherever it sits in their values
    end = _end(tmp_path, program="shadows_app")
    assert end["partial_diffs"] >= 240, end  # 267 on 3.11 and 3.13 when written
    # 378 (278 on 3.13 when lines in two pieces were not understood)
    assert end["targeted_steps"] >= 340, end
    assert _end(tmp_path, {"item_diffs": False}, "shadows_app")["partial_diffs"] == 0


def test_a_global_rebound_by_a_callee_is_read_again_by_its_caller(tmp_path):
    out = tmp_path / "globals.dsrec"
    proc = record(PROGRAMS / "targets_globals_app.py", out,
                  options={"backend": "native", "globals": True})
    assert proc.returncode == 0, proc.stderr
    shown = [e["globals"]["COUNTER"] for e in export(out)
             if e["function"] == "watch" and e["kind"] == "line" and e["line"] == 15]
    assert shown == ["1", "2", "3", "4", "5"]


def test_each_piece_of_a_statement_in_several_lines_is_judged_alone(tmp_path):
    # pieces_app: a multi-line call is its first line's start, its other lines, then the
    # call back on the first line; a `for` line is its iterator, then the loop's exit.  An
    # event at the start of a piece runs that piece alone, whose calls and stores are known
    # (`Vec(...)`, `range(...)`, `heapq.heappush(heap, v)` through a module's attribute), so
    # the step after it compares only what they change
    end = _end(tmp_path, program="pieces_app")
    # 323 short and 88 targeted steps of 439 events on 3.11 and 3.13 when written; 240 and
    # 55 when a line in several pieces was judged whole
    assert end["short_steps"] >= 300, end
    assert end["targeted_steps"] >= 80, end


def test_a_value_written_again_in_the_chunk_is_copied_not_encoded_again(tmp_path):
    # pieces_app passes Vec objects (shown by their repr's template) from call to call: an
    # argument is often the value a step before returned, and is written from the encoding
    # kept under its fingerprint (the fidelity tests check the texts)
    end = _end(tmp_path, program="pieces_app")
    assert end["reused_encodings"] >= 40, end  # 60 on 3.13, 57 on 3.11 when written
