"""Inspecting and changing the state of a program that keeps running (threads, an asyncio loop)."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.timeout(120)


async def test_inspect_paths_paging_and_safe_repr(app):
    config = await app.call("inspect", path="__main__:CONFIG")
    assert config["type"] == "dict" and config["size"] == 4
    assert {c["name"]: c["repr"] for c in config["children"]}["'limits'"] == "{'cpu': 1, 'mem': 2}"
    limits = next(c for c in config["children"] if c["name"] == "'limits'")
    assert limits["path"] == "__main__:CONFIG['limits']"
    # a child's path leads on; dict keys also read as attributes, as a convenience
    assert (await app.value(limits["path"] + "['mem']")) == "2"
    assert (await app.value("CONFIG.limits.cpu")) == "1"
    assert (await app.value("CONFIG['tags'][-1]")) == "'b'"

    account = await app.call("inspect", path="ACCOUNTS['alice']")
    assert account["type"] == "__main__.Account" and account["repr"] == "Account('alice', 100)"
    assert [c["name"] for c in account["children"]] == ["owner", "balance", "limits"]

    page = await app.call("inspect", path="BIG", start=990, count=20)
    assert page["total"] == 1000 and [c["repr"] for c in page["children"]][:2] == ["990", "991"]
    assert len(page["children"]) == 10 and not page["more"]
    page = await app.call("inspect", path="BIG", start=0, count=5)
    assert page["more"] and page["children"][4]["path"] == "__main__:BIG[4]"

    # a __repr__ that never returns is cut off by the time budget
    odd = await app.call("inspect", path="ODD")
    assert "repr took too long" in odd["repr"]
    # nothing runs the program's code: properties are reported, not called
    assert "computed by a property" in await app.error("inspect", path="ACCOUNTS['bob'].doubled")
    assert (await app.value("COUNTS[1]")) == "0"
    module = await app.call("inspect", path="livemod:", filter="greet")
    assert [c["name"] for c in module["children"]] == ["Greeter", "GREETER"]
    assert "no such global" in await app.error("inspect", path="NOPE")
    assert "is loaded" in await app.error("inspect", path="not.a.module:X")


async def test_filtered_view_and_find_by_type(app):
    view = await app.call("inspect", path="PRICES", where="lambda key, value: value >= 2")
    assert [c["name"] for c in view["children"]] == ["'pear'", "'plum'"]
    found = await app.call("find", type="Account")
    assert found["total"] == 2
    reprs = sorted(item["repr"] for item in found["items"])
    assert reprs == ["Account('alice', 100)", "Account('bob', 50)"]
    handle = found["items"][0]["path"]
    assert handle.startswith("$")
    # a handle is a path root
    assert (await app.value(handle + ".limits['daily']")) == "10"
    by_class = await app.call("find", type="livemod:Greeter")
    assert by_class["total"] == 1 and by_class["items"][0]["type"] == "livemod.Greeter"


async def test_set_with_each_strategy_then_rollback(app):
    replaced = await app.call("set", path="CONFIG['threshold']", value=7)
    assert (replaced["old"], replaced["new"]) == ("3", "7")
    assert (await app.value("CONFIG['threshold']")) == "7"

    limits_before = await app.call("inspect", path="CONFIG['limits']")
    merged = await app.call("set", path="CONFIG", strategy="deep_merge",
                            value={"limits": {"cpu": 8}, "name": "renamed"})
    assert (await app.value("CONFIG['limits']")) == "{'cpu': 8, 'mem': 2}"
    # merged in place: the nested dict is the same object, references to it see the change
    assert (await app.call("inspect", path="CONFIG['limits']"))["id"] == limits_before["id"]

    partial = await app.call("set", path="ACCOUNTS['bob']", strategy="partial_update",
                             value={"balance": 75, "limits": {"daily": 1}})
    assert (await app.value("ACCOUNTS['bob'].balance")) == "75"
    assert (await app.value("ACCOUNTS['bob'].limits")) == "{'daily': 1}"  # replaced, not merged

    deep_obj = await app.call("set", path="ACCOUNTS['alice']", strategy="deep_merge",
                              value={"limits": {"daily": 99}})
    assert (await app.value("ACCOUNTS['alice'].limits")) == "{'daily': 99, 'monthly': 100}"

    created = await app.call("set", path="NEW_GLOBAL", expression="[n * n for n in range(4)]")
    assert created["created"] and (await app.value("NEW_GLOBAL")) == "[0, 1, 4, 9]"

    for change, path, expected in [
        (deep_obj, "ACCOUNTS['alice'].limits", "{'daily': 10, 'monthly': 100}"),
        (partial, "ACCOUNTS['bob']", "Account('bob', 50)"),
        (merged, "CONFIG['limits']", "{'cpu': 1, 'mem': 2}"),
        (replaced, "CONFIG['threshold']", "3"),
    ]:
        undone = await app.call("rollback", change=change["change"])
        assert undone["rolledBack"] == change["change"]
        assert (await app.value(path)) == expected
    assert (await app.value("ACCOUNTS['bob'].limits")) == "{'daily': 10, 'monthly': 100}"
    assert (await app.value("CONFIG['name']")) == "'app'"
    await app.call("rollback", change=created["change"])
    assert "no such global" in await app.error("inspect", path="NEW_GLOBAL")
    assert "already rolled back" in await app.error("rollback", change=replaced["change"])
    # a rollback is a change too, and can itself be rolled back
    again = await app.call("set", path="COUNTS[2]", value=5)
    undo = await app.call("rollback", change=again["change"])
    await app.call("rollback", change=undo["change"])
    assert (await app.value("COUNTS[2]")) == "5"


async def test_schema_check_refuses_before_anything_changes(app):
    message = await app.error("set", path="CONFIG", strategy="partial_update", schema=True,
                              value={"threshold": 4, "limits": "lots"})
    assert "schema" in message and "limits" in message
    assert (await app.value("CONFIG['threshold']")) == "3"  # the valid part did not happen
    assert "keys differ" in await app.error("set", path="CONFIG['limits']", schema=True,
                                            value={"cpu": 1})
    assert "does not exist" in await app.error("set", path="CONFIG", strategy="deep_merge",
                                               schema=True, value={"extra": 1})
    ok = await app.call("set", path="CONFIG['limits']", schema=True, value={"cpu": 3, "mem": 4.5})
    assert ok["new"] == "{'cpu': 3, 'mem': 4.5}"


async def test_transform_backup_restore_and_audit_log(app):
    done = await app.call("transform", path="PRICES", function="lambda v: round(v * 1.5, 2)")
    assert done["changed"] == 3
    assert (await app.value("PRICES")) == "{'apple': 1.5, 'pear': 3.0, 'plum': 4.5}"
    only = await app.call("transform", path="BIG", function="lambda v: -v",
                          where="lambda i, v: i < 3")
    assert only["changed"] == 3 and (await app.value("BIG[2]")) == "-2"

    saved = await app.call("backup", path="CONFIG")
    await app.call("set", path="CONFIG", strategy="deep_merge",
                   value={"limits": {"cpu": 0}, "tags": ["z"]})
    await app.call("set", path="CONFIG['name']", value="other")
    restored = await app.call("restore", backup=saved["backup"])
    assert (await app.value("CONFIG")) == ("{'threshold': 3, 'limits': {'cpu': 1, 'mem': 2}, "
                                           "'name': 'app', 'tags': ['a', 'b']}")
    await app.call("rollback", change=restored["change"])
    assert (await app.value("CONFIG['name']")) == "'other'"
    await app.call("rollback", change=done["change"])
    assert (await app.value("PRICES")) == "{'apple': 1.0, 'pear': 2.0, 'plum': 3.0}"

    entries = app.audit_entries()
    by_change = {e.get("change"): e for e in entries if e.get("change")}
    entry = by_change[done["change"]]
    assert entry["action"] == "transform" and entry["client"] == "test"
    assert entry["pid"] == app.pid and entry["path"] == "__main__:PRICES"
    assert entry["old"] == "{'apple': 1.0, 'pear': 2.0, 'plum': 3.0}" and "time" in entry
    actions = [e["action"] for e in entries]
    assert {"transform", "backup", "set", "restore", "rollback"} <= set(actions)
    # the agent serves the same log, filtered
    served = await app.call("audit", change=done["change"])
    assert [e["action"] for e in served["entries"]] == ["transform"]


async def test_changes_are_atomic_for_other_threads(app):
    """A thread of the program checks that two keys always match while we change both."""
    await app.call("eval", code=(
        "import threading\n"
        "PAIR = {'a': 0, 'b': 0, 'nested': {'x': 0, 'y': 0}}\n"
        "SEEN = {'checks': 0, 'torn': 0}\n"
        "def watch():\n"
        "    while True:\n"
        "        top = dict(PAIR)\n"  # one C-level copy: a consistent view of PAIR
        "        nested = dict(top['nested'])\n"
        "        if top['a'] != top['b'] or nested['x'] != nested['y']:\n"
        "            SEEN['torn'] += 1\n"
        "        SEEN['checks'] += 1\n"
        "threading.Thread(target=watch, daemon=True).start()\n"), module="__main__")
    for i in range(1, 150):
        strategy = "deep_merge" if i % 2 else "partial_update"
        value = {"a": i, "b": i, "nested": {"x": i, "y": i}}
        await app.call("set", path="PAIR", strategy=strategy, value=value)
    seen = await app.call("inspect", path="SEEN")
    checks = {c["name"]: int(c["repr"]) for c in seen["children"]}
    assert checks["'checks'"] > 1000
    assert checks["'torn'"] == 0
    await asyncio.sleep(0)
