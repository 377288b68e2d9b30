"""Call durations (format 1.2): every call and return has its time, every call that ends a
duration, in the native recorder and the pure-Python one; older formats still read."""

from __future__ import annotations

import json
import struct

import pytest

from .conftest import PROGRAMS, devsandbox, export, record

PROGRAM = PROGRAMS / "timings_app.py"
BACKENDS = {"native": {"backend": "native"}, "python": {"backend": "python"}}
SLACK_US = 2  # both ends of a recorded duration are whole microseconds


def _calls(events: list[dict]) -> list[dict]:
    """Each call event with its return event (as "end")."""
    calls, open_ = [], {}
    for ev in events:
        key = (ev["thread"], ev.get("frame"))
        if ev["kind"] == "call":
            call = dict(ev, end=None)
            open_[key] = call
            calls.append(call)
        elif ev["kind"] == "return" and key in open_:
            open_.pop(key)["end"] = ev
    return calls


def _minor(path) -> int:
    return struct.unpack_from("<6sHH", path.read_bytes())[2]


@pytest.fixture(scope="module", params=list(BACKENDS))
def recorded(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "rec.dsrec"
    proc = record(PROGRAM, out, options=BACKENDS[request.param])
    assert proc.returncode == 0, proc.stderr
    return out, export(out), json.loads(proc.stdout)


def test_every_call_and_return_has_its_time(recorded):
    path, events, _measured = recorded
    assert _minor(path) == (5 if "native" in path.parent.name else 2)  # 1.5: repr templates
    calls = _calls(events)
    assert {c["function"] for c in calls} >= {"sleeper", "outer", "failing", "catcher", "countdown"}
    for call in calls:
        end = call["end"]
        assert isinstance(call["t_us"], int) and end is not None, call["function"]
        assert end["duration_us"] == end["t_us"] - call["t_us"] >= 0
    times = [e["t_us"] for e in events if "t_us" in e]
    assert times == sorted(times)  # one thread: its clock never goes back
    assert not any("t_us" in e for e in events if e["kind"] in ("line", "exception"))


def test_durations_are_what_the_program_measured(recorded):
    _path, events, measured = recorded
    by_name: dict[str, list[int]] = {}
    for call in _calls(events):
        by_name.setdefault(call["function"], []).append(call["end"]["duration_us"])
    # each call is timed by its caller around it too: the recorded duration lies inside
    for name in ("sleeper", "outer", "failing"):
        assert len(by_name[name]) == len(measured[name])
        for ours, around in zip(by_name[name], measured[name]):
            assert ours <= around + SLACK_US, (name, by_name[name], measured[name])
    assert by_name["sleeper"][0] >= 30_000 and by_name["sleeper"][1] >= 5_000
    assert by_name["failing"][0] >= 20_000  # ended by its exception: a duration all the same


def test_a_call_contains_its_callees(recorded):
    _path, events, _measured = recorded
    calls = _calls(events)
    outer = next(c for c in calls if c["function"] == "outer")
    inner = [c for c in calls if c["depth"] > outer["depth"]
             and outer["step"] < c["step"] < outer["end"]["step"]]
    sleepers = [c for c in inner if c["function"] == "sleeper"]
    assert len(sleepers) == 2
    for c in inner:
        assert outer["t_us"] <= c["t_us"] and c["end"]["t_us"] <= outer["end"]["t_us"]
    assert outer["end"]["duration_us"] >= sum(c["end"]["duration_us"] for c in sleepers) >= 35_000
    catcher = next(c for c in calls if c["function"] == "catcher")
    failing = next(c for c in calls if c["function"] == "failing")
    assert catcher["end"]["duration_us"] >= failing["end"]["duration_us"] >= 20_000


def test_generator_runs_are_timed_from_resume_to_yield(recorded):
    _path, events, _measured = recorded
    runs = [c for c in _calls(events) if c["function"] == "countdown"]
    assert len(runs) == 4  # three yields and the end
    assert all(r["end"]["duration_us"] >= 10_000 for r in runs[:3])


def test_info_and_timeline_show_the_durations(recorded):
    path, events, _measured = recorded
    proc = devsandbox("info", "--json", str(path))
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["format"] == ("1.5" if "native" in path.parent.name else "1.2") and info["timed"] is True
    sleeper = next(v for k, v in info["timings_per_function"].items() if k.startswith("sleeper "))
    ours = sorted(c["end"]["duration_us"] for c in _calls(events) if c["function"] == "sleeper")
    assert sleeper["calls"] == 2 and sleeper["max_ms"] == ours[-1] / 1000
    assert 5 <= sleeper["p50_ms"] <= sleeper["p95_ms"] == ours[-1] / 1000
    text = devsandbox("info", str(path)).stdout
    assert "timings per function" in text and "sleeper (" in text

    from devsandbox.dap.travelquery import calls_of
    from devsandbox.recording.reader import Recording
    from devsandbox.recording.timeline import Timeline

    with Recording(str(path)) as rec:
        tl = Timeline(rec)
        tree = calls_of(tl, tl.thread_ids()[0])
    exported = {c["step"]: c for c in _calls(events)}
    assert len(tree) == len(exported)
    for node in tree:
        call = exported[node["startStep"]]
        assert node["startUs"] == call["t_us"]
        assert node["durationUs"] == call["end"]["duration_us"]


@pytest.mark.parametrize(("options", "minor"), [
    ({"timings": False, "item_diffs": False, "repr_templates": False}, 0),
    ({"timings": False, "item_diffs": True, "repr_templates": False}, 1),
    ({"item_diffs": True, "repr_templates": False}, 2),
    ({"item_diffs": True, "attributes": True, "repr_templates": False}, 3),
    ({"item_diffs": True}, 5),
])
def test_every_format_reads(tmp_path, options, minor):
    """1.0 and 1.1 files (no times), 1.2 files with item diffs, 1.3 with attributes and 1.5
    with repr templates (1.4 before they nested): export and info read them; the same events
    whatever the format."""
    out = tmp_path / "rec.dsrec"
    proc = record(PROGRAM, out, options={"backend": "native", **options})
    assert proc.returncode == 0, proc.stderr
    assert _minor(out) == minor
    events = export(out)
    timed = minor >= 2
    assert any("t_us" in e for e in events) is timed
    assert any("duration_us" in e for e in events) is timed
    assert [c["function"] for c in _calls(events)][:3] == ["<module>", "timed", "outer"]
    info = json.loads(devsandbox("info", "--json", str(out)).stdout)
    assert info["format"] == f"1.{minor}" and bool(info["timings_per_function"]) is timed
    from devsandbox.dap.travelquery import calls_of
    from devsandbox.recording.reader import Recording
    from devsandbox.recording.timeline import Timeline

    with Recording(str(out)) as rec:
        tl = Timeline(rec)
        tree = calls_of(tl, tl.thread_ids()[0])
    assert [c["function"] for c in tree][:3] == ["<module>", "timed", "outer"]
    assert any("durationUs" in c for c in tree) is timed



def test_the_python_scan_dates_the_same_steps(recorded):
    """chunks.clock_times: the native scanner (_timescan) and its Python fallback agree."""
    from devsandbox.recording import chunks, pyscan
    from devsandbox.recording.reader import Recording
    from devsandbox.recording.timeline import Timeline

    path, events, _measured = recorded
    if chunks.native is None:
        pytest.skip("devsandbox._timescan is not built")
    dated = 0
    with Recording(str(path)) as rec:
        tl = Timeline(rec)
        for tid in tl.thread_ids():
            for ci in tl.chunks_of(tid):
                buf = tl.payload(ci)
                ours = chunks.clock_times(buf, tid)
                assert ours == pyscan.clocks_python(buf, tid)
                dated += len(ours)
    assert dated == sum(1 for e in events if "t_us" in e)
