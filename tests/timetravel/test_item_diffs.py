"""Time travel over recordings made with item diffs (--item-diffs, format 1.1: ITEMS records):
every step's locals, value history and post-mortem replay through `devsandbox dap` equal the
export, with the native scanner and with its Python fallback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tt_support import PROGRAMS, TIMEOUT, Truth, check_against_truth, env, export, marker_line

from devsandbox.dapclient import DapClient
from devsandbox.recorder.format import FormatError
from devsandbox.recording import chunks, history, itemdiffs
from devsandbox.recording.reader import Recording
from devsandbox.recording.timeline import Timeline

MUTATE = PROGRAMS / "mutate.py"


def record_item_diffs(program: Path, out: Path) -> Path:
    proc = subprocess.run([sys.executable, "-m", "devsandbox", "record", "-q", "--item-diffs",
                           "--chunk-kb", "4", "--out", str(out), "--", str(program)],
                          check=False, env=env(), capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=program.parent)
    assert out.exists(), proc.stderr
    return out


@pytest.fixture(scope="module")
def mutated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    out = record_item_diffs(MUTATE, tmp_path_factory.mktemp("rec") / "mutate.dsrec")
    return out, export(out)


@pytest.fixture(scope="module")
def loop_items(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    out = record_item_diffs(PROGRAMS / "loop.py", tmp_path_factory.mktemp("rec") / "loop.dsrec")
    return out, export(out)


def test_the_recording_has_item_diffs(mutated):
    with Recording(str(mutated[0])) as rec:
        assert rec.minor >= 1 and rec.meta.get("item_diffs")
        assert len(rec._chunks) >= 3
        patched = [ci for ci, ch in enumerate(rec._chunks)
                   if itemdiffs.as_sets(buf := rec._payload(ch)) != buf]
        assert len(patched) >= len(rec._chunks) - 2  # ITEMS records in every chunk of the loop


def test_locals_at_every_step(mutated, scanner):
    path, truth = mutated
    tl = Timeline(Recording(str(path)))
    steps = 0
    for e in truth.events:
        if e["kind"] == "mark":
            continue
        truth.check_stack(tl, e)
        steps += 1
    assert steps > 1000


@pytest.mark.parametrize("function,name", [("main", "xs"), ("main", "table"), ("main", "grid"),
                                           ("main", "seen"), ("grow", "acc")])
def test_every_patch_is_a_change(mutated, scanner, function, name):
    path, truth = mutated
    tl = Timeline(Recording(str(path)))
    code = next(i for i, c in enumerate(tl.rec.codes) if c is not None and c.qualname == function)
    expected = truth.changes(function, name)
    assert len(expected) > 5
    watch = history.Watch(name, 1, codes=frozenset({code}))
    assert [(c.step, c.new) for c in history.changes(tl, watch)] == expected
    distinct: dict = {}
    listed, more = history.tally(tl, watch, distinct, 3)
    assert [(step, history.text_of(new)) for step, _f, _c, new, _old in listed] == expected[:3]
    assert more
    if function == "main":
        fid = next(e["frame"] for e in truth.events if e.get("function") == "main")
        one = history.Watch(name, 1, fids=frozenset({fid}))
        for e in truth.events[::7]:
            if e.get("frame") != fid:
                continue
            seen = [s for s, _ in expected if s <= e["step"]]
            change = history.last_change(tl, one, e["step"])
            assert (change.step if change else None) == (seen[-1] if seen else None)


def test_postmortem_replay_through_dap(mutated, replay_of):
    path, truth = mutated
    r = replay_of(path)
    check_against_truth(r, truth)
    functions = set()
    for _ in range(40):  # back from the end, into grow's calls
        r.move("devsandbox/stepBackIn")
        functions.add(check_against_truth(r, truth)["function"])
    assert functions == {"main", "grow"}
    for _ in range(10):
        r.move("stepBack")
        check_against_truth(r, truth)
    frame = next(f for f in r.frames() if f["name"] == "main")
    hist = r.request("devsandbox/valueHistory", {"expression": "xs", "frameId": frame["id"]})
    expected = truth.changes("main", "xs")
    assert [(c["step"], c["value"]) for c in hist["changes"]][:5] == expected[:5]
    assert [c["value"] for c in hist["changes"]][:3] == ["[]", "[0]", "[0, 1]"]
    line = marker_line(MUTATE, "append")
    assert truth.at(1, hist["changes"][1]["step"] - 1)["line"] == line


def test_postmortem_loop_through_dap(loop_items, replay_of):
    path, truth = loop_items
    r = replay_of(path)
    assert r.first["reason"] == "exception"
    check_against_truth(r, truth)
    for _ in range(60):
        r.move("stepBack")
        check_against_truth(r, truth)
    for _ in range(20):
        r.move("next")
        check_against_truth(r, truth)


def test_live_session_with_item_diffs(tmp_path):
    """A live session (real debugpy) recording with item diffs: back in the past, `xs` (a list
    appended to) and its history are those of the recording's export."""
    client = DapClient([sys.executable, "-m", "devsandbox", "dap"], env=env())
    line = marker_line(MUTATE, "append")
    try:
        client.start("launch", {"program": str(MUTATE), "console": "internalConsole",
                                "devsandbox": {"record": True, "recordingPath": str(tmp_path),
                                               "itemDiffs": True}},
                     breakpoints={str(MUTATE): [{"line": line}]}, timeout=60)
        tid = client.stopped(timeout=60)["threadId"]
        for _ in range(4):
            client.resume("continue", tid)
        body = client.resume("reverseContinue", tid)
        assert body["description"].startswith("Breakpoint: step")
        pos = client.request("devsandbox/position")["body"]
        assert pos["inPast"] and pos["line"] == line
        past = client.locals(client.top_frame(tid)["id"])
        assert past["xs"] == "[0, 1, 2]" and past["i"] == "3"
        hist = client.request("devsandbox/valueHistory", {"expression": "xs"})["body"]
        last = client.request("devsandbox/lastWrite", {"expression": "xs"})["body"]
        recording = Path(pos["recording"])
    finally:
        try:
            client.request("disconnect", {"terminateDebuggee": True}, timeout=15, check=False)
        finally:
            client.close()
    with Recording(str(recording)) as rec:
        assert rec.meta.get("item_diffs")
    truth = export(recording)
    e = truth.at(1, pos["step"])
    assert {k: e["locals"][k] for k in ("xs", "table", "grid", "seen")} == {
        k: past[k] for k in ("xs", "table", "grid", "seen")}
    expected = [(s, v) for s, v in truth.changes("main", "xs") if s <= pos["step"]]
    assert [(c["step"], c["value"]) for c in hist["changes"]][:len(expected)] == expected
    assert last["found"] and (last["old"], last["new"]) == ("[0, 1]", "[0, 1, 2]")


def test_native_rewrite_equals_the_python_one(mutated, loop_items):
    """_timescan.as_sets (C) gives the same bytes as the Python pass, chunk for chunk, and
    says clearly where a chunk cut short or corrupt stops making sense."""
    if chunks.native is None:
        pytest.skip("devsandbox._timescan is not built")
    rewritten = 0
    for path in (mutated[0], loop_items[0]):
        with Recording(str(path)) as rec:
            for ch in rec._chunks:
                buf = rec._payload(ch)
                ours = chunks.native.as_sets(buf)
                assert ours == itemdiffs.as_sets_python(buf)
                rewritten += ours != buf
                with pytest.raises(FormatError, match="unknown event record"):
                    itemdiffs.as_sets(buf + b"\xff")  # a record no version writes
    assert rewritten >= 3
    # THREAD 0, CALL, then ITEMS patching item 0 of local 5, which has no value, or an int
    call, items = bytes([0x40, 0, 0x43, 1, 1, 1]), bytes([0x52, 5, 0, 1, 1, 1, 0, 0x04, 2])
    for before in (b"", bytes([0x50, 5, 0x04, 3])):
        with pytest.raises(FormatError):
            itemdiffs.as_sets(call + before + items)
    # ... and the same patch of a list [3] gives the list [1]
    assert (itemdiffs.as_sets(call + bytes([0x50, 5, 0x10, 1, 1, 0x04, 6]) + items)
            == call + bytes([0x50, 5, 0x10, 1, 1, 0x04, 6, 0x50, 5, 0x10, 1, 1, 0x04, 2]))
