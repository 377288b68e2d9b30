"""devsandbox record / export / info as a user runs them."""

from __future__ import annotations

import json
import struct
import sys

from .conftest import PROGRAMS, devsandbox, env, export, record

import subprocess

CLI = PROGRAMS / "cli"


def _plain(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env(), capture_output=True, text=True,
                          timeout=60, cwd=CLI)


def _without_summary(stderr: str) -> str:
    return "".join(line for line in stderr.splitlines(True) if not line.startswith("devsandbox:"))


def test_record_runs_the_program_as_python_does(tmp_path):
    out = tmp_path / "r.dsrec"
    ours = devsandbox("record", "--out", str(out), "--", str(CLI / "exits.py"), "a", "b", cwd=CLI)
    plain = _plain(str(CLI / "exits.py"), "a", "b")
    assert (ours.returncode, ours.stdout) == (plain.returncode, plain.stdout) == (3, plain.stdout)
    assert _without_summary(ours.stderr) == plain.stderr
    assert "devsandbox: recorded" in ours.stderr
    events = export(out)
    assert events[0]["kind"] == "call" and events[0]["file"] == str(CLI / "exits.py")
    assert events[-1]["kind"] == "exception" or events[-1]["kind"] == "return"
    assert [e["step"] for e in events] == list(range(len(events)))


def test_uncaught_exception_traceback_and_status(tmp_path):
    out = tmp_path / "r.dsrec"
    ours = devsandbox("record", "--out", str(out), "--", str(CLI / "exits.py"), "boom", cwd=CLI)
    plain = _plain(str(CLI / "exits.py"), "boom")
    assert ours.returncode == plain.returncode == 1
    assert _without_summary(ours.stderr) == plain.stderr
    kinds = [e["kind"] for e in export(out)]
    assert "exception" in kinds


def test_record_module(tmp_path):
    out = tmp_path / "r.dsrec"
    ours = devsandbox("record", "--out", str(out), "--", "-m", "mymod", "x", cwd=CLI)
    plain = _plain("-m", "mymod", "x")
    assert ours.returncode == plain.returncode == 0
    assert ours.stdout == plain.stdout == "__main__ ['x'] True\n"
    assert any(e["function"] == "<module>" for e in export(out))


def test_info(tmp_path):
    out = tmp_path / "r.dsrec"
    devsandbox("record", "--out", str(out), "--", str(CLI / "exits.py"), cwd=CLI)
    info = devsandbox("info", "--json", str(out))
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["events"] > 3 and data["complete"] and data["end"]["exit_code"] == 3
    assert data["program"] == str(CLI / "exits.py")
    assert str(CLI / "exits.py") in data["events_per_file"]
    text = devsandbox("info", str(out))
    assert "bytes/event" in text.stdout


def test_recording_window(tmp_path):
    out = tmp_path / "w.dsrec"
    proc = subprocess.run([sys.executable, str(CLI / "window.py"), str(out)], env=env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr
    events = export(out)
    functions = {e["function"] for e in events}
    assert "inside" in functions and "before" not in functions
    ret = [e for e in events if e["kind"] == "return" and e["function"] == "inside"]
    assert ret[0]["return"] == "10" and ret[0]["locals"] == {"x": "5", "y": "10"}


def test_flight_recorder_dumps_on_uncaught_exception(tmp_path):
    # the dump goes to .devsandbox/recordings under the working directory
    proc = record(CLI / "flight.py", tmp_path / "unused.dsrec",
                  options={"flight_recorder_mb": 0.02, "out": None}, cwd=tmp_path)
    assert proc.returncode == 1 and "RuntimeError" in proc.stderr
    dumps = list((tmp_path / ".devsandbox" / "recordings").glob("flight-*.dsrec"))
    assert len(dumps) == 1, proc.stderr
    info = json.loads(devsandbox("info", "--json", str(dumps[0])).stdout)
    assert info["end"]["reason"] == "uncaught exception"
    events = export(dumps[0])
    # only the last part is kept, and the end is there
    assert events[0]["step"] > 0
    last_exc = [e for e in events if e["kind"] == "exception"][-1]
    assert "crash at the end" in last_exc["exception"]["value"]
    assert events[-1]["kind"] == "return" and events[-1]["function"] == "<module>"


def test_reader_reports_newer_truncated_and_foreign_files(tmp_path):
    out = tmp_path / "r.dsrec"
    devsandbox("record", "--out", str(out), "--", str(CLI / "exits.py"), cwd=CLI)
    data = out.read_bytes()
    newer = tmp_path / "newer.dsrec"
    newer.write_bytes(data[:6] + struct.pack("<H", 99) + data[8:])
    proc = devsandbox("info", str(newer))
    assert proc.returncode == 1 and "newer than this reader" in proc.stderr
    foreign = tmp_path / "foreign.dsrec"
    foreign.write_bytes(b"hello world, not a recording" * 10)
    proc = devsandbox("export", str(foreign))
    assert proc.returncode == 1 and "not a DevSandbox recording" in proc.stderr
    cut = tmp_path / "cut.dsrec"
    cut.write_bytes(data[: len(data) // 2])
    proc = devsandbox("export", str(cut))
    assert proc.returncode == 0 and "incomplete recording" in proc.stderr
    corrupt = tmp_path / "corrupt.dsrec"
    mid = len(data) // 2
    corrupt.write_bytes(data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :])
    proc = devsandbox("info", "--json", str(corrupt))
    assert proc.returncode == 0
    end = json.loads(proc.stdout)["end"]
    assert end.get("truncated") and ("corrupt" in end["reason"] or "ends inside" in end["reason"])
