"""The reader's random access (stacks, stepping, value history) against the export, across
chunk boundaries, with the native scanner and with its Python fallback."""

from __future__ import annotations

import itertools

import pytest
from tt_support import PROGRAMS, Truth, export, record, shown_values

from devsandbox.recorder.format import E
from devsandbox.recording import history, navigate
from devsandbox.recording.reader import Recording
from devsandbox.recording.timeline import Timeline


@pytest.fixture(scope="module")
def chunky(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Truth]:
    out = tmp_path_factory.mktemp("rec") / "chunky.dsrec"
    record(PROGRAMS / "chunky.py", out)
    return str(out), export(out)


def test_several_chunks(chunky):
    with Recording(chunky[0]) as rec:
        assert len(rec._chunks) >= 3


def test_stack_at_every_step(chunky, scanner):
    path, truth = chunky
    tl = Timeline(Recording(path))
    for e in truth.events:
        if e["kind"] == "mark":
            continue
        truth.check_stack(tl, e)
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


@pytest.mark.parametrize("function,name", [("main", "total"), ("main", "label"),
                                           ("main", "state"), ("step", "k")])
def test_value_changes_and_last_writes(chunky, scanner, function, name):
    path, truth = chunky
    tl = Timeline(Recording(path))
    code = next(i for i, c in enumerate(tl.rec.codes) if c is not None and c.qualname == function)
    watch = history.Watch(name, 1, codes=frozenset({code}))
    assert [(c.step, c.new) for c in history.changes(tl, watch)] == truth.changes(function, name)
    if function != "main":
        return
    fid = next(e["frame"] for e in truth.events if e.get("function") == "main")
    expected = truth.changes(function, name)
    for e in truth.events:
        if e.get("frame") != fid:
            continue
        seen = [s for s, _ in expected if s <= e["step"]]
        change = history.last_change(tl, history.Watch(name, 1, fids=frozenset({fid})), e["step"])
        assert (change.step if change else None) == (seen[-1] if seen else None)


@pytest.mark.parametrize("function,name", [("main", "total"), ("main", "state"), ("step", "k")])
def test_value_tally_counts_every_change(chunky, scanner, function, name):
    """valueHistory's count of every change: per distinct value its count, first and last
    step, and only the first changes listed."""
    path, truth = chunky
    tl = Timeline(Recording(path))
    code = next(i for i, c in enumerate(tl.rec.codes) if c is not None and c.qualname == function)
    expected = truth.changes(function, name)
    assert len(expected) > 3
    distinct: dict = {}
    listed, more = history.tally(tl, history.Watch(name, 1, codes=frozenset({code})), distinct, 3)
    assert [(step, history.text_of(new)) for step, _fid, _code, new, _old in listed] == expected[:3]
    assert more
    want: dict[str, list[int]] = {}
    for step, value in expected:
        entry = want.setdefault(value, [0, step, step])
        entry[0] += 1
        entry[2] = step
    assert {history.text_of(v): entry[:3] for v, entry in distinct.items()} == want
    everything: dict = {}
    listed, more = history.tally(tl, history.Watch(name, 1, codes=frozenset({code})), everything,
                                 len(expected))
    assert len(listed) == len(expected) and not more


def test_timeline_pages_keep_only_the_page(chunky, scanner):
    """devsandbox/timeline's pages (calls_page) are the slices of the whole call tree."""
    from devsandbox.dap.travelquery import calls_of, calls_page

    tl = Timeline(Recording(chunky[0]))
    calls = calls_of(tl, 1)
    assert len(calls) > 10 and all(c["endStep"] is not None for c in calls[1:])
    for start, count in ((0, 3), (5, 4), (len(calls) - 2, 10), (len(calls) + 5, 3)):
        assert calls_page(tl, 1, start, count) == (calls[start:start + count], len(calls))
    shallow = [c for c in calls if c["depth"] <= 1]
    assert 0 < len(shallow) < len(calls)
    assert calls_page(tl, 1, 1, 2, max_depth=1) == (shallow[1:3], len(shallow))


def test_goto_targets_around_the_position(chunky, scanner):
    """gotoTargets lists the executions nearest the current step (executions_near), and
    says how many it left out on each side, with the nearest one to jump to."""
    import bisect
    from collections import Counter

    path, truth = chunky
    tl = Timeline(Recording(path))
    runs = Counter((e["function"], e["line"]) for e in truth.events if e["kind"] == "line")
    (function, line), _n = runs.most_common(1)[0]
    code = next(i for i, c in enumerate(tl.rec.codes) if c is not None and c.qualname == function)
    keys = {navigate.line_key(code, line)}
    steps = [e["step"] for e in truth.events
             if e["kind"] == "line" and e["function"] == function and e["line"] == line]
    assert len(steps) > 20
    limit = 6
    last = max(e["step"] for e in truth.events if e["kind"] != "mark")
    for at in (0, steps[0], steps[len(steps) // 2], steps[len(steps) // 2] + 1, steps[-1], last):
        earlier, listed, later, prev, nxt = navigate.executions_near(tl, keys, tl.when(1, at),
                                                                     limit)
        i = bisect.bisect_right(steps, at)  # executions at or before the position
        nb = min(i, max(limit // 2, limit - (len(steps) - i)))
        na = min(len(steps) - i, limit - nb)
        assert [c[2] for c in listed] == steps[i - nb:i + na]
        assert (earlier, later) == (i - nb, len(steps) - i - na)
        assert (prev[2] if prev else None) == (steps[i - nb - 1] if earlier else None)
        assert (nxt[2] if nxt else None) == (steps[i + na] if later else None)
    everything = navigate.executions_near(tl, keys, tl.when(1, steps[3]), 10_000)
    assert [c[2] for c in everything[1]] == steps and everything[0] == everything[2] == 0


@pytest.fixture(scope="module")
def templated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Truth]:
    """Reprs recorded as the values they format (V.FMT), over several small chunks."""
    import subprocess
    import sys

    from tt_support import ROOT, env

    out = tmp_path_factory.mktemp("rec") / "templated.dsrec"
    program = ROOT / "tests" / "recorder" / "programs" / "repr_templates_app.py"
    proc = subprocess.run([sys.executable, "-m", "devsandbox", "record", "--chunk-kb", "4",
                           "--out", str(out), "--", str(program)], env=env(), check=False,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return str(out), export(out)


def test_formatted_reprs_at_every_step(templated, scanner):
    path, truth = templated
    with Recording(path) as rec:
        assert len(rec._chunks) >= 3
    tl = Timeline(Recording(path))
    points = 0
    for e in truth.events:
        if e["kind"] != "mark":
            # the top frame's locals (a caller's may differ from the export's at a keyframe,
            # which restates them: the module's MODE changes in a callee here)
            frames = tl.stack(e["thread"], e["step"])
            assert [(f.code.qualname, f.line) for f in frames] == [
                (x["function"], x["line"]) for x in truth.stack(e["thread"], e["step"])]
            assert frames[0].locals() == shown_values(e), e["step"]
            points += "<Point: x=" in str(e["locals"])
    assert points > 50
