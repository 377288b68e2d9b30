"""Experiments on the command line, offline: inputs captured from a recording of a real
program, four variants (faster and correct, wrong, raising, not compiling), the stored JSON,
the chart, list / show / rerun / delete; explicit calls, in-process runs, mocks, stubs, spies
and worker limits."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from exp_support import by_name, devsandbox, devsandbox_json

pytestmark = pytest.mark.timeout(240)

VARIANTS = ["--variant", "variants/fast.py", "--variant", "variants/wrong.py",
            "--variant", "variants/raises.py", "--variant", "variants/broken.py"]


BROKEN = 'def total(prices, currency="EUR")\n    return 0\n'  # no colon: a SyntaxError


def test_recorded_calls_three_kinds_of_variant_and_the_right_verdicts(recorded) -> None:
    workdir, recording = recorded
    (workdir / "variants" / "broken.py").write_text(BROKEN)
    answer = devsandbox_json("experiment", "run", "shop_app:total", "--recording", str(recording),
                             *VARIANTS, "--repeat", "15", "--name", "cart totals", cwd=workdir)
    report = answer["report"]
    assert report["status"] == "ok" and report["where"] == "offline"
    assert report["environment"]["isolation"] == "subprocess"
    # four distinct literal calls; the call with an array.array argument is reported, not used
    assert report["inputs"]["count"] == 4
    assert report["inputs"]["unreconstructedCount"] == 1
    assert "array(" in report["inputs"]["unreconstructed"][0]["reason"]
    assert [o["status"] for o in report["baseline"]["outcomes"]] == ["returned"] * 4
    assert report["baseline"]["memory"]["peakMax"] > 0

    variants = by_name(report)
    assert list(variants) == ["fast", "wrong", "raises", "broken"]
    fast = variants["fast"]
    assert fast["correct"] is True and fast["differences"] == []
    assert fast["comparison"]["verdict"] == "faster" and fast["comparison"]["p"] < 0.05
    assert fast["comparison"]["ratio"] < 0.5 and fast["comparison"]["ci"][1] < 1
    assert fast["verdict"] == "faster" and fast["winner"] is True

    wrong = variants["wrong"]
    assert wrong["correct"] is False and wrong["verdict"] == "incorrect"
    # the inputs in USD and GBP differ, each with both results
    assert len(wrong["differences"]) == 3
    diff = next(d for d in wrong["differences"] if d["baseline"]["value"] == "2287.5")
    assert diff["variant"] == {"status": "returned", "value": "1830", "type": "int"}

    raises = variants["raises"]
    assert raises["verdict"] == "raises" and raises["raised"] == 4
    assert raises["outcomes"][0]["type"] == "NotImplementedError"

    broken = variants["broken"]
    assert broken["status"] == "compile-error" and broken["verdict"] == "compile-error"
    assert broken["error"]["type"] == "SyntaxError" and broken["error"]["line"] == 1

    assert report["recommendation"]["winner"] == "fast"

    # stored as readable JSON, with the chart next to it
    stored = json.loads(Path(answer["path"]).read_text())
    assert stored["name"] == "cart totals" and stored["target"] == "shop_app:total"
    assert stored["file"] == str(workdir / "shop_app.py")
    assert [c["params"]["currency"] for c in stored["inputs"]["calls"]] == \
        ["'EUR'", "'USD'", "'GBP'", "'USD'"]
    assert stored["runs"][-1]["recommendation"]["winner"] == "fast"
    chart = ET.parse(answer["chart"]).getroot()
    assert chart.tag.endswith("svg")
    labels = {t.text for t in chart.iter() if t.tag.endswith("text")}
    assert {"baseline", "fast", "wrong", "raises"} <= labels

    # the text report says the same
    text = devsandbox("experiment", "show", answer["id"], "--svg", "again.svg", cwd=workdir).stdout
    assert "faster — winner" in text and "incorrect (timing:" in text
    assert "SyntaxError: expected ':' (line 1)" in text or "SyntaxError" in text
    assert "Recommendation: fast returns the same results" in text
    assert (workdir / "again.svg").read_text().startswith("<svg")


def test_list_rerun_and_delete(recorded) -> None:
    workdir, recording = recorded
    first = devsandbox_json("experiment", "run", "shop_app:total", "--recording", str(recording),
                            "--variant", "fast=variants/fast.py", "--repeat", "8", cwd=workdir)
    ident = first["id"]
    listed = devsandbox_json("experiment", "list", cwd=workdir)["experiments"]
    assert ident in [e["id"] for e in listed]
    entry = next(e for e in listed if e["id"] == ident)
    assert entry["variants"] == ["fast"] and entry["inputs"] == 4 and entry["winner"] == "fast"

    again = devsandbox_json("experiment", "rerun", ident, "--repeat", "6", "--in-process",
                            cwd=workdir)
    assert again["report"]["environment"]["isolation"] == "inprocess"
    assert again["report"]["rounds"] == 6
    shown = devsandbox_json("experiment", "show", ident, cwd=workdir)
    assert len(shown["experiment"]["runs"]) == 2

    assert "deleted" in devsandbox("experiment", "delete", ident, cwd=workdir).stdout
    assert ident not in [e["id"] for e in devsandbox_json("experiment", "list",
                                                          cwd=workdir)["experiments"]]
    gone = devsandbox("experiment", "show", ident, cwd=workdir, code=1)
    assert "no experiment" in gone.stderr


def test_explicit_calls_stubs_spies_and_mocks(recorded) -> None:
    workdir, _recording = recorded
    common = ["experiment", "run", "shop_app:total", "--call", "[1, 2, 3], 'USD'",
              "--call", "[10, 20], currency='GBP'", "--variant", "variants/fast.py",
              "--repeat", "5", "--no-save"]
    plain = devsandbox_json(*common, cwd=workdir)["report"]
    assert [o["value"] for o in plain["baseline"]["outcomes"]] == ["7.5", "15.0"]

    stubbed = devsandbox_json(*common, "--stub", "shop_app:fetch_rate=10",
                              "--spy", "shop_app:fetch_rate", cwd=workdir)["report"]
    # the spy wraps the stub: every call of both arms is seen and answered by the stub
    assert [o["value"] for o in stubbed["baseline"]["outcomes"]] == ["60", "300"]
    assert by_name(stubbed)["fast"]["correct"] is True
    [spy] = stubbed["spies"]
    assert spy["target"] == "shop_app:fetch_rate" and spy["count"] >= 4
    assert spy["calls"][0]["args"] == ["'USD'"] and spy["calls"][0]["returned"] == "10"

    mocked = devsandbox_json(*common, "--mock", "shop_app:fetch_rate=lambda currency: 0",
                             "--in-process", cwd=workdir)["report"]
    assert [o["value"] for o in mocked["baseline"]["outcomes"]] == ["0", "0"]
    # and the module is untouched afterwards: a run without injections sees the real rates
    assert [o["value"] for o in devsandbox_json(*common, cwd=workdir)["report"]["baseline"][
        "outcomes"]] == ["7.5", "15.0"]


def test_a_method_with_arguments_built_in_the_module(recorded) -> None:
    workdir, _recording = recorded
    method = ("def total(self, currency='EUR'):\n"
              "    return round(sum(self.prices) * fetch_rate(currency), 2)\n")
    loops = "def total(self, currency='EUR'):\n    return total(self.prices, currency) + 0\n"
    report = devsandbox_json(
        "experiment", "run", "shop_app:Cart.total", "--call", "Cart(range(30)), 'USD'",
        "--call", "Cart([1, 2]), currency='GBP'", "--call", "Cart(eval('[1]'))",
        "--variant-code", f"direct={method}", "--variant-code", f"delegate={loops}",
        "--repeat", "8", "--no-save", cwd=workdir)["report"]
    assert [o["value"] for o in report["baseline"]["outcomes"]] == ["543.75", "1.5"]
    # eval() is refused by the scanner: that input is skipped, the others run
    [skipped] = report["inputs"]["skipped"]
    assert skipped["input"] == "3" and "refused" in skipped["reason"]
    variants = by_name(report)
    assert variants["direct"]["correct"] is True
    # inside a method variant, total() is still the module's function, not the variant
    assert variants["delegate"]["correct"] is True


def test_limits_timeouts_and_refusals_hit_one_variant_only(recorded) -> None:
    workdir, _recording = recorded
    (workdir / "spin.py").write_text("def total(prices, currency='EUR'):\n"
                                     "    while prices:\n        prices = prices + prices[:1]\n")
    (workdir / "quit.py").write_text("import os\ndef total(prices, currency='EUR'):\n"
                                     "    os._exit(3)\n")
    answer = devsandbox_json(
        "experiment", "run", "shop_app:total", "--call", "[1, 2], 'EUR'",
        "--variant", "variants/fast.py", "--variant", "spin.py", "--variant", "quit.py",
        "--repeat", "5", "--call-timeout", "60", "--cpu-seconds", "1", "--memory-mb", "400",
        "--no-save", cwd=workdir, code=0, timeout=200)
    report = answer["report"]
    variants = by_name(report)
    assert variants["fast"]["verdict"] == "faster" or variants["fast"]["correct"] is True
    # the scanner refuses os._exit at the normal level: reported for that variant
    assert variants["quit"]["status"] == "refused" and "os._exit" in variants["quit"]["error"][
        "message"]
    # growing a list forever: the CPU limit or the address-space limit stops the worker
    spin = variants["spin"]
    assert spin["status"] in ("crashed", "ok"), spin
    if spin["status"] == "crashed":
        assert "killed by SIGXCPU" in spin["error"]["message"] or "exited" in spin["error"][
            "message"]
    else:  # MemoryError under the address-space limit: an exception, the variant raised
        assert spin["outcomes"][0]["type"] == "MemoryError"

    forced = devsandbox_json(
        "experiment", "run", "shop_app:total", "--call", "[1, 2], 'EUR'", "--variant", "quit.py",
        "--variant", "variants/fast.py", "--repeat", "5", "--no-save", "--timeout", "30",
        "--force", cwd=workdir)["report"]
    quit_ = by_name(forced)["quit"]
    assert quit_["status"] == "crashed" and "status 3" in quit_["error"]["message"]
    assert by_name(forced)["fast"]["status"] == "ok"
