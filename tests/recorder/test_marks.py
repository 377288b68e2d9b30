"""Marks the recorder writes itself: where an exception is handled, and which asyncio task
the following steps run in."""

from __future__ import annotations

import json

import pytest

from .conftest import PROGRAMS, export, record

PROGRAM = PROGRAMS / "marks_app.py"


def _line(marker: str) -> int:
    for number, text in enumerate(PROGRAM.read_text().splitlines(), 1):
        if f"# @{marker}" in text:
            return number
    raise LookupError(marker)


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    out = tmp_path_factory.mktemp("marks") / "rec.dsrec"
    proc = record(PROGRAM, out)
    assert proc.returncode == 0, proc.stderr
    return export(out, marks=True)


def test_caught_marks_the_handler_line(events):
    caught = [(i, json.loads(e["text"])) for i, e in enumerate(events)
              if e["kind"] == "mark" and e["mark"] == "caught"]
    assert [c for _, c in caught] == [{"line": _line("except")}]
    i = caught[0][0]
    before = [e for e in events[:i] if e["kind"] != "mark"]
    after = events[i + 1]
    assert before[-1]["kind"] == "exception" and before[-1]["function"] == "handler"
    assert (after["kind"], after["function"], after["line"]) == ("line", "handler",
                                                                _line("except"))


def test_task_marks_say_which_task_runs(events):
    task = None
    seen = set()
    for e in events:
        if e["kind"] == "mark" and e["mark"] == "task":
            info = json.loads(e["text"])
            task = info and info["name"]
            continue
        if e.get("function") == "worker" and "name" in e["locals"]:
            expected = {"'a'": "alpha", "'b'": "beta"}[e["locals"]["name"]]
            assert task == expected, (e, task)
            seen.add(task)
    assert seen == {"alpha", "beta"}
    names = [json.loads(e["text"]) for e in events if e["kind"] == "mark" and e["mark"] == "task"]
    assert {n["name"] for n in names if n} >= {"alpha", "beta"}


def test_a_slow_repr_is_interrupted_at_the_budget(tmp_path):
    program = PROGRAMS / "slow_repr_app.py"
    proc = record(program, tmp_path / "rec.dsrec", options={"repr_budget_ms": 100})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "3"
    assert float(lines[1].split()[1]) < 2.5  # not 5 s per repr
    shown = [v for e in export(tmp_path / "rec.dsrec") for v in e["locals"].values()
             if "Sluggish" in v]
    assert any(v.endswith("(repr skipped: over the time budget)>") for v in shown), shown
    assert all("Sluggish(" not in v for v in shown)  # never the repr's text


def test_module_globals_a_function_reads(tmp_path):
    program = PROGRAMS / "globals_app.py"
    proc = record(program, tmp_path / "rec.dsrec", options={"globals": True})
    assert proc.returncode == 0, proc.stderr
    bumps = [e for e in export(tmp_path / "rec.dsrec") if e["function"] == "bump"]
    # at each step, the globals bump() reads, as they were: data only (not `math`)
    first = bumps[0]
    assert first["globals"] == {"COUNTER": "0", "SETTINGS": "{'scale': 2}", "history": "[]"}
    assert "n" in first["locals"] and "COUNTER" not in first["locals"]
    last = bumps[-1]
    assert last["kind"] == "return"
    assert last["globals"] == {"COUNTER": "16", "SETTINGS": "{'scale': 10}",
                               "history": "[0, 2, 6, 16]"}
    # by default, only the globals a function rebinds (bump's COUNTER), as they were
    proc = record(program, tmp_path / "plain.dsrec")
    assert proc.returncode == 0, proc.stderr
    plain = [e for e in export(tmp_path / "plain.dsrec") if e["function"] == "bump"]
    assert [e["globals"] for e in plain] == [{"COUNTER": e["globals"]["COUNTER"]} for e in bumps]
    assert plain[-1]["globals"] == {"COUNTER": "16"}
    assert all("globals" not in e for e in export(tmp_path / "plain.dsrec")
               if e["function"] != "bump")
    # globals false: none
    proc = record(program, tmp_path / "none.dsrec", options={"globals": False})
    assert all("globals" not in e for e in export(tmp_path / "none.dsrec"))
