"""Calls, evaluation, messages and workers injected into a program that keeps running."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.timeout(120)


async def test_call_functions_methods_and_coroutines(app):
    answer = await app.call("call", target="add", args=[2, 3])
    assert (answer["status"], answer["value"], answer["where"]) == ("ok", "5", "thread")
    greeted = await app.call("call", target="greet", args=["you"])
    assert greeted["value"] == "'hi you'"
    assert greeted["stdout"] == "hello you\n" and greeted["stderr"] == "warning!\n"
    # a bound method through a path; Python-source arguments
    deposit = await app.call("call", target="ACCOUNTS['bob'].deposit", arguments="amount=5 * 2")
    assert deposit["value"] == "60"
    assert (await app.value("ACCOUNTS['bob'].balance")) == "60"
    # a coroutine function runs in the program's own loop
    coro = await app.call("call", target="async_add", args=[20, 22])
    assert (coro["value"], coro["where"], coro["stdout"]) == ("42", "program loop",
                                                              "async says hi\n")
    failed = await app.call("call", target="add", args=[1, "x"])
    assert failed["status"] == "error" and failed["error"]["type"] == "TypeError"
    assert any("live_app.py" in frame for frame in failed["error"]["traceback"])
    assert "not callable" in await app.error("call", target="CONFIG")


async def test_timeouts_stop_runaway_code(app):
    spun = await app.call("call", target="spin", args=[30], timeout=0.3)
    assert spun["status"] == "timeout" and spun["stopped"] is True
    assert spun["duration"] < 5
    slow = await app.call("call", target="async_slow", timeout=0.3)
    assert slow["status"] == "timeout" and slow["where"] == "program loop"
    looped = await app.call("eval", code="n = 0\nwhile True:\n    n += 1", timeout=0.3)
    assert looped["status"] == "timeout" and looped["stopped"] is True
    assert looped["scan"]["findings"][0]["rule"] == "endless-loop"
    # the interrupted code ran in the namespace, and the program is fine
    assert int((await app.call("eval", code="n"))["value"]) > 0
    assert (await app.call("call", target="add", args=[1, 1]))["value"] == "2"


async def test_eval_namespace_output_errors_and_completions(app):
    first = await app.call("eval", code="import math\nradius = 2\nprint('area follows')\n"
                                        "round(math.pi * radius ** 2, 3)")
    assert (first["value"], first["stdout"]) == ("12.566", "area follows\n")
    assert (await app.call("eval", code="radius + 1"))["value"] == "3"
    assert (await app.call("eval", code="_ * 2"))["value"] == "6"  # the last value is _
    # another client has its own namespace
    other = await app.call("eval", code="radius", client="someone-else")
    assert other["status"] == "error" and other["error"]["type"] == "NameError"
    # a statement has no value; a module's globals can be the namespace
    assert "value" not in await app.call("eval", code="COUNTS[2] = 7", module="__main__")
    assert (await app.value("COUNTS[2]")) == "7"
    bad = await app.call("eval", code="def f(:\n  pass")
    assert bad["error"]["type"] == "SyntaxError" and bad["error"]["line"] == 1
    awaited = await app.call("eval", code="import asyncio\nawait asyncio.sleep(0.01)\n"
                                          "await async_add(1, 2)", module="__main__")
    assert (awaited["value"], awaited["where"]) == ("3", "program loop")

    names = await app.call("completions", text="rad")
    assert [t["label"] for t in names["targets"]] == ["radius"]
    methods = await app.call("completions", text="x = ACCOUNTS['bob']; CONFIG.ke", module="__main__")
    assert [t["label"] for t in methods["targets"]] == ["keys"]
    assert methods["targets"][0]["type"] == "function"
    attrs = await app.call("completions", text="livemod.GREETER.na", module="__main__")
    assert [t["label"] for t in attrs["targets"]] == ["name"]


async def test_messages_to_thread_and_asyncio_queues(app):
    sent = await app.call("sendMessage", queue="INBOX", value={"order": 1})
    assert sent["status"] == "delivered" and sent["kind"] == "queue.Queue"
    await app.wait_for("RECEIVED", "[{'order': 1}]")
    sent = await app.call("sendMessage", queue="AQUEUE", expression="('tuple', 2)")
    assert sent["status"] == "delivered"
    await app.wait_for("AIO_RECEIVED", "[('tuple', 2)]")
    later = await app.call("sendMessage", queue="INBOX", value="later", delay=0.3)
    assert later["status"] == "scheduled"
    assert (await app.value("RECEIVED")) == "[{'order': 1}]"
    await app.wait_for("RECEIVED", "[{'order': 1}, 'later']")
    await app.call("sendMessage", queue="AQUEUE", value="async later", delay=0.2)
    await app.wait_for("AIO_RECEIVED", "[('tuple', 2), 'async later']")
    full = await app.call("sendMessage", queue="FULL", value="no room", timeout=0.2)
    assert full["status"] == "timeout" and "full" in full["error"]
    assert "not a queue" in await app.error("sendMessage", queue="COUNTS[0]", value=1)


async def test_workers_start_and_stop(app):
    code = ("import time\n"
            "TICKS = [0]\n"
            "def worker(stop, step=1):\n"
            "    while not stop.is_set():\n"
            "        TICKS[0] += step\n"
            "        time.sleep(0.01)\n")
    started = await app.call("startWorker", code=code, kwargs={"step": 2}, name="ticker")
    assert started["running"] and started["name"] == "ticker"
    await asyncio.sleep(0.3)
    listed = await app.call("workers")
    assert [w["name"] for w in listed["workers"] if w["running"]] == ["ticker"]
    ticks = int((await app.call("eval", code="TICKS[0]"))["value"])
    assert ticks > 0 and ticks % 2 == 0
    stopped = await app.call("stopWorker", worker=started["worker"])
    assert stopped["stoppedInTime"] and stopped["how"] == "asked to stop"

    # a worker that ignores requests to stop is interrupted
    stubborn = await app.call("startWorker", code="def worker():\n    while True:\n        pass\n",
                              force=True)
    stopped = await app.call("stopWorker", worker=stubborn["worker"], timeout=0.2)
    assert stopped["stoppedInTime"] and "interrupted" in stopped["how"]

    # an asyncio task in the program's loop, cancelled when stopped
    task = await app.call("startWorker", kind="task", target="async_slow")
    await asyncio.sleep(0.1)
    assert (await app.call("workers"))["workers"][-1]["running"]
    stopped = await app.call("stopWorker", worker=task["worker"])
    assert stopped["how"] == "cancelled" and stopped["stoppedInTime"]


async def test_injected_code_events_reach_the_audit_log(app, tmp_path):
    target = tmp_path / "written.txt"
    answer = await app.call("eval", code=f"with open({str(target)!r}, 'w') as f:\n"
                                         "    f.write('x')", force=True)
    assert answer["status"] == "ok" and target.read_text() == "x"
    assert answer["scan"]["findings"][0]["rule"] == "file-write"
    events = [e for e in app.audit_entries() if e["action"] == "event" and
              e.get("run") == answer["run"]]
    assert any(e["event"] == "open" and str(target) in e["args"] for e in events)
    # the program's own file activity is not attributed to injected code
    assert all(e["client"] == "test" for e in events)
    evals = [e for e in app.audit_entries() if e["action"] == "eval"]
    assert evals[-1]["run"] == answer["run"] and "written.txt" in evals[-1]["code"]
