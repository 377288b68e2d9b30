"""Experiments in a running program through its agent: live capture of the next calls, runs
against the live module (worker processes and in-process), and mocks and spies that are gone
after the run, also when it crashes or runs out of time."""

from __future__ import annotations

import pytest
from exp_support import by_name, variant

from devsandbox.errors import DevsandboxError

pytestmark = pytest.mark.timeout(180)


async def test_capture_the_next_calls_and_run_on_them_in_both_isolations(app) -> None:
    captured = await app.call("capture", target="__main__:total", count=4, timeout=20)
    assert captured["count"] == 4 and not captured["timedOut"]
    assert captured["file"] == str(app.workdir / "shop_app.py")
    first = captured["inputs"][0]
    assert "pickle" in first and first["repr"].endswith(("'USD'", "'EUR'"))
    # the function is put back once the calls are captured
    assert await app.eval("total is ORIGINAL_TOTAL") == "True"

    for isolation in ("subprocess", "inprocess"):
        report = await app.call(
            "run", target="__main__:total", inputs=captured["inputs"], isolation=isolation,
            repeat=8, variants=[{"name": "fast", "source": variant("fast")},
                                {"name": "wrong", "source": variant("wrong")}])
        assert report["status"] == "ok", report
        assert report["environment"]["isolation"] == isolation
        variants = by_name(report)
        assert variants["fast"]["correct"] is True
        assert variants["fast"]["comparison"]["verdict"] in ("faster", "no significant difference")
        usd = [i for i, c in enumerate(captured["inputs"]) if c["repr"].endswith("'USD'")]
        assert variants["wrong"]["correct"] is (not usd)
    if report["environment"]["isolation"] == "inprocess":
        assert report["environment"]["pid"] == app.pid  # measured inside the program
    assert await app.eval("total is ORIGINAL_TOTAL") == "True"


async def test_mocks_and_spies_are_removed_after_a_crash(app) -> None:
    # the variant raises SystemExit (not an Exception): the in-process run ends with an error
    crashing = "def total(prices, currency='EUR'):\n    raise SystemExit(4)\n"
    report = await app.call(
        "run", target="__main__:total", isolation="inprocess", repeat=3,
        inputs=[{"id": "one", "args": ["[1, 2, 3]", "'USD'"]}],
        variants=[{"name": "crash", "source": crashing}],
        injections=[{"kind": "mock", "target": "__main__:fetch_rate", "source": "lambda c: 3"},
                    {"kind": "spy", "target": "__main__:handle"},
                    {"kind": "stub", "target": "__main__:total", "value": "0"}])
    assert report["status"] == "error" and report["error"]["type"] == "SystemExit"
    assert await app.eval("(fetch_rate is ORIGINAL_FETCH, handle is ORIGINAL_HANDLE, "
                          "total is ORIGINAL_TOTAL)") == "(True, True, True)"

    # a run stopped by its timeout: the same
    spinning = "def total(prices, currency='EUR'):\n    while True:\n        pass\n"
    report = await app.call(
        "run", target="__main__:total", isolation="inprocess", timeout=1.0, repeat=3,
        inputs=[{"id": "one", "args": ["[1, 2, 3]", "'USD'"]}],
        variants=[{"name": "spin", "source": spinning}],
        injections=[{"kind": "spy", "target": "__main__:fetch_rate"},
                    {"kind": "mock", "target": "__main__:handle", "source": "lambda n: -1"}])
    assert report["status"] == "error" and report["error"]["type"] == "Timeout"
    assert await app.eval("(fetch_rate is ORIGINAL_FETCH, handle is ORIGINAL_HANDLE)") == \
        "(True, True)"
    # the program's own loop went on using the real functions
    assert int(await app.eval("CALLS['errors']")) == 0
    # and an injection that cannot be built changes nothing either
    report = await app.call(
        "run", target="__main__:total", isolation="inprocess", repeat=3,
        inputs=[{"id": "one", "args": ["[1]"]}], variants=[{"source": variant("fast")}],
        injections=[{"kind": "spy", "target": "__main__:fetch_rate"},
                    {"kind": "mock", "target": "__main__:nothing_here", "source": "lambda: 0"}])
    assert report["status"] == "error" and "nothing_here" in report["error"]["message"]
    assert await app.eval("fetch_rate is ORIGINAL_FETCH") == "True"


async def test_bad_requests_are_refused(app) -> None:
    with pytest.raises(DevsandboxError, match="not module:qualname"):
        await app.call("capture", target="total", count=1, timeout=1)
    with pytest.raises(DevsandboxError, match="not defined"):
        await app.call("run", target="__main__:nope", variants=[], inputs=[])
    answer = await app.call("capture", target="__main__:refund", count=2, timeout=0.3)
    assert answer["timedOut"] and answer["count"] == 0  # the program never calls it
    # calls through the module's globals are seen: total() calls fetch_rate()
    answer = await app.call("capture", target="__main__:fetch_rate", count=2, timeout=20)
    assert answer["count"] == 2 and answer["inputs"][0]["repr"] in ("'USD'", "'EUR'")
