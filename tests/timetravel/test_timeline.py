"""The reader's random access (stacks, stepping, value history) against the export, across
chunk boundaries, with the native scanner and with its Python fallback."""

from __future__ import annotations

import itertools

import pytest
from tt_support import PROGRAMS, Truth, export, record

from devsandbox.recorder.format import E
from devsandbox.recording import chunks, history, navigate
from devsandbox.recording.reader import Recording
from devsandbox.recording.timeline import Timeline


@pytest.fixture(scope="module")
def chunky(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Truth]:
    out = tmp_path_factory.mktemp("rec") / "chunky.dsrec"
    record(PROGRAMS / "chunky.py", out)
    return str(out), export(out)


@pytest.fixture(params=["native", "python"])
def scanner(request, monkeypatch):
    if request.param == "native":
        if chunks.native is None:
            pytest.skip("devsandbox._timescan is not built")
    else:
        monkeypatch.setattr(chunks, "native", None)
    return request.param


def test_several_chunks(chunky):
    with Recording(chunky[0]) as rec:
        assert len(rec._chunks) >= 3


def test_stack_at_every_step(chunky, scanner):
    path, truth = chunky
    tl = Timeline(Recording(path))
    for e in truth.events:
        if e["kind"] == "mark":
            continue
        frames = tl.stack(e["thread"], e["step"])
        expected = truth.stack(e["thread"], e["step"])
        assert [(f.code.qualname, f.line, f.fid) for f in frames] == [
            (x["function"], x["line"], x["frame"]) for x in expected]
        assert frames[0].locals() == e["locals"]
        for f, x in zip(frames[1:], expected[1:]):
            assert f.locals() == truth.frame_locals(e["thread"], e["step"], x["frame"])
        st = tl.step(e["thread"], e["step"])
        assert {E.CALL: "call", E.LINE: "line", E.RETURN: "return",
                E.EXCEPTION: "exception"}[st.kind] == e["kind"]
        if e["kind"] == "return":
            assert tl.event_value(e["thread"], e["step"])[0] == e["return"]


def test_stepping_matches_the_events(chunky, scanner):
    path, truth = chunky
    tl = Timeline(Recording(path))
    events = [e for e in truth.events if e["kind"] != "mark"]
    stops = [e for e in events if e["kind"] in ("line", "exception")]
    for a, b in itertools.pairwise(stops):  # step into: every line, both ways
        assert navigate.step_into(tl, 1, a["step"], True) == b["step"]
        assert navigate.step_into(tl, 1, b["step"], False) == a["step"]
    for e in stops:  # step over: the next line of the same frame or of a caller
        nxt = navigate.step_over(tl, 1, e["step"], True)
        want = next((x["step"] for x in stops if x["step"] > e["step"] and (
            x["frame"] == e["frame"] or x["depth"] < e["depth"])), None)
        assert nxt == want
        prev = navigate.step_over(tl, 1, e["step"], False)
        want = next((x["step"] for x in reversed(stops) if x["step"] < e["step"] and (
            x["frame"] == e["frame"] or x["depth"] < e["depth"])), None)
        assert prev == want


def _truth_changes(truth: Truth, function: str, name: str) -> list[tuple[int, str]]:
    last: dict[int, str | None] = {}
    out = []
    for e in truth.events:
        if e["kind"] == "mark" or e["function"] != function:
            continue
        value = e["locals"].get(name)
        if value != last.get(e["frame"]) and value is not None:
            out.append((e["step"], value))
        last[e["frame"]] = value
    return out


@pytest.mark.parametrize("function,name", [("main", "total"), ("main", "label"),
                                           ("main", "state"), ("step", "k")])
def test_value_changes_and_last_writes(chunky, scanner, function, name):
    path, truth = chunky
    tl = Timeline(Recording(path))
    code = next(i for i, c in enumerate(tl.rec.codes) if c is not None and c.qualname == function)
    watch = history.Watch(name, 1, codes=frozenset({code}))
    assert [(c.step, c.new) for c in history.changes(tl, watch)] == _truth_changes(
        truth, function, name)
    if function != "main":
        return
    fid = next(e["frame"] for e in truth.events if e.get("function") == "main")
    expected = _truth_changes(truth, function, name)
    for e in truth.events:
        if e.get("frame") != fid:
            continue
        seen = [s for s, _ in expected if s <= e["step"]]
        change = history.last_change(tl, history.Watch(name, 1, fids=frozenset({fid})), e["step"])
        assert (change.step if change else None) == (seen[-1] if seen else None)
