"""Discovery of a real running program: what a user asking "what is it doing?" would see.

busy_app.py runs two named threads (one of them busy computing), an asyncio loop
with named tasks waiting on a queue and on sleep, a child process, module-level
containers and an lru_cache with hits; its agent connects to a hub in the test
through the launch environment.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from agent_support import PROGRAMS, Programs, Recorder, clean_env, marker_line, read_line

from devsandbox.agent import wire
from devsandbox.agent_link import AgentHub

APP = PROGRAMS / "busy_app.py"


async def _discover_busy_app(cwd: Path) -> dict[str, Any]:
    recorder = Recorder()
    hub = AgentHub(on_state=recorder.on_state, on_notification=recorder.on_notification)
    progs = Programs(cwd)
    try:
        await hub.listen()
        proc = progs.start("busy_app.py", env=clean_env(**hub.launch_env()))
        ready = await read_line(proc, "READY")
        child_pid = int(ready.split()[1])
        await hub.wait_for_agent(proc.pid)
        await hub.wait_for_agent(child_pid)
        started = asyncio.get_running_loop().time()
        ping = await hub.call(wire.PING, timeout=10)
        ping_seconds = asyncio.get_running_loop().time() - started
        report = await hub.discover(top=10)
        return {
            "report": report,
            "pid": proc.pid,
            "child_pid": child_pid,
            "ping": ping,
            "ping_seconds": ping_seconds,
            "states": recorder.state_names(),
            "notifications": recorder.notifications,
            "child_parent": hub.agents[child_pid].parent,
            "primary": hub.primary().pid if hub.primary() else None,
        }
    finally:
        progs.stop_all()
        await hub.close()


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return asyncio.run(asyncio.wait_for(_discover_busy_app(tmp_path_factory.mktemp("busy")), 60))


def _thread(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [t for t in report["threads"] if t["name"] == name]
    assert found, f"no thread {name!r} in {[t['name'] for t in report['threads']]}"
    return found[0]


def test_the_program_s_agent_is_the_primary_one(busy: dict[str, Any]) -> None:
    assert busy["report"]["pid"] == busy["pid"] == busy["primary"]
    assert busy["ping"]["pid"] == busy["pid"]
    assert busy["states"][:2] == ["connecting", "connected"]


def test_threads_show_names_and_the_functions_they_are_in(busy: dict[str, Any]) -> None:
    report = busy["report"]
    worker = _thread(report, "worker-1")
    assert worker["daemon"] is True
    assert any(f["function"] == "worker_loop" and f["file"] == str(APP) for f in worker["stack"])
    cruncher = _thread(report, "cruncher")
    assert cruncher["stack"][0]["function"] == "crunch"
    assert cruncher["stack"][0]["line"] in range(
        marker_line(APP, "crunch") - 2, marker_line(APP, "crunch") + 1
    )
    main = _thread(report, "MainThread")
    assert main["main"] is True and main["daemon"] is False
    assert main["stack"][-1]["function"] == "<module>"
    # the agent's own threads are not part of the program
    assert not [t for t in report["threads"] if str(t["name"]).startswith("devsandbox.agent")]


def test_the_agent_answers_while_a_thread_is_busy(busy: dict[str, Any]) -> None:
    assert busy["ping_seconds"] < 5.0  # generous: CI machines are loaded


def test_asyncio_tasks_and_what_they_await(busy: dict[str, Any]) -> None:
    loops = {loop["thread"]: loop for loop in busy["report"]["asyncio"]["loops"]}
    main_loop = loops[_thread(busy["report"], "MainThread")["ident"]]
    side_loop = loops[_thread(busy["report"], "aio-side")["ident"]]
    assert len(loops) == 2 and main_loop["running"] and side_loop["running"]

    tasks = {t["name"]: t for t in main_loop["tasks"]}
    assert {"consumer", "sleeper", "waiter"} <= set(tasks)
    consumer = tasks["consumer"]
    assert consumer["coroutine"] == "consumer"
    assert consumer["location"]["file"] == str(APP)
    chain = consumer["awaiting"]
    assert chain[0]["kind"] == "coroutine" and chain[0]["qualname"] == "Queue.get"
    assert chain[-1]["kind"] == "future" and chain[-1]["done"] is False
    assert tasks["sleeper"]["awaiting"][0]["qualname"] == "sleep"
    # a task awaiting another task names it
    assert tasks["waiter"]["awaiting"][-1] == {
        "kind": "task",
        "type": "_asyncio.Task",
        "done": False,
        "name": "sleeper",
        "coroutine": "sleeper",
    }

    side = {t["name"]: t for t in side_loop["tasks"]}
    assert {"ticker-a", "ticker-b"} <= set(side)
    gathering = next(t for t in side.values() if t["coroutine"] == "side_loop.<locals>.side_main")
    assert gathering["awaiting"][-1]["children"] == ["ticker-a", "ticker-b"]
    assert side["ticker-a"]["coroutine"] == "side_loop.<locals>.ticker"


def test_child_process_with_its_agent(busy: dict[str, Any]) -> None:
    children = busy["report"]["children"]
    assert children["supported"] is True
    child = next(c for c in children["processes"] if c["pid"] == busy["child_pid"])
    assert child["parent"] == busy["pid"]
    assert child["cmdline"][0] == sys.executable and child["cmdline"][1] == "-c"
    assert child["has_agent"] is True and child["agent_connected"] is True
    # the child's agent said who its parent is, and the hub told us
    assert busy["child_parent"] == busy["pid"]
    assert (
        busy["pid"],
        wire.AGENT_CHILD,
        {"pid": busy["child_pid"], "parent": busy["pid"]},
    ) in busy["notifications"]


def test_modules_split_and_the_own_import_graph(busy: dict[str, Any]) -> None:
    modules = busy["report"]["modules"]
    own = {m["name"]: m for m in modules["own"]}
    assert set(own) == {"__main__", "app_helpers", "app_config"}
    assert own["__main__"]["file"] == str(APP)
    assert modules["import_graph"]["__main__"] == ["app_helpers"]
    assert modules["import_graph"]["app_helpers"] == ["app_config"]
    assert modules["import_graph"]["app_config"] == []
    assert "json" in modules["external_imports"]["app_helpers"]
    assert {"asyncio", "subprocess", "threading", "functools"} <= set(modules["stdlib"])
    assert not any(m["name"].startswith("devsandbox") for m in modules["own"])


def test_largest_containers_and_cache_statistics(busy: dict[str, Any]) -> None:
    containers = busy["report"]["containers"]
    by_name = {(c["module"], c["name"]): c for c in containers}
    registry = by_name[("__main__", "REGISTRY")]
    assert containers[0] is registry  # the biggest one comes first
    assert registry["kind"] == "dict" and registry["len"] == 5000
    assert registry["size_bytes"] > 5000 * 50
    assert by_name[("__main__", "RECENT")]["len"] == 300
    assert by_name[("app_helpers", "SEEN")]["kind"] == "set"
    cache = by_name[("__main__", "cached_square")]
    assert cache["kind"] == "lru_cache"
    assert cache["cache_info"] == {"hits": 7, "misses": 3, "maxsize": 64, "currsize": 3}


def test_memory(busy: dict[str, Any]) -> None:
    memory = busy["report"]["memory"]
    assert memory["rss_bytes"] > 1024 * 1024
    assert len(memory["gc_counts"]) == 3
    assert memory["objects_counted"] > 1000
    type_names = [t["type"] for t in memory["types"]]
    assert "dict" in type_names and "function" in type_names
    assert busy["report"]["errors"] == {}


def test_report_is_plain_json(busy: dict[str, Any]) -> None:
    assert json.loads(json.dumps(busy["report"])) == busy["report"]
