"""Hot reload into a program that keeps running: code swapped in place, state kept, reverts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devsandbox.live.watch import Watcher

pytestmark = pytest.mark.timeout(120)


def edit(path, *replacements):
    text = path.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)


async def test_reload_changes_code_in_place_and_keeps_state(app):
    module = app.workdir / "livemod.py"
    await app.wait_for("RESULTS[-1]", "20")
    hits_before = int(await app.value("livemod:CACHE['hits']"))
    await app.call("call", target="livemod:BUMP")  # the closure's state: count == 1
    edit(module,
         ("    return x * FACTOR\n", "    return x * FACTOR + 1\n"),
         ('        return f"hello {self.name}"\n',
          ('        return f"good day {self.name}"\n\n'
           '    def shout(self):\n        return self.greet().upper() + __class__.__name__\n')),
         ("        count += 1\n", "        count += 10\n"),
         ("FACTOR = 10\n", "FACTOR = 100\n"),
         ("\ndef scaled(x, scale=2):", ("\ndef triple(x):\n    return 3 * x\n\n\n"
                                       "def scaled(x, scale=5):")))
    report = await app.call("hotReload", file=str(module))  # the agent reads the file
    assert report["status"] == "ok" and report["version"]
    changed = {c["name"] for c in report["changed"]}
    assert {"compute", "Greeter.greet", "make_counter", "make_counter.<locals>.bump",
            "scaled"} <= changed
    assert {a["name"] for a in report["added"]} == {"triple", "Greeter.shout"}
    assert report["constantsNotUpdated"] == ["FACTOR"]  # CACHE is state: never listed
    # the main thread's next call runs the new code; the module's state was kept
    await app.wait_for("RESULTS[-1]", "21")
    assert int(await app.value("livemod:CACHE['hits']")) > hits_before
    assert (await app.call("call", target="livemod:GREETER.greet"))["value"] == "'good day world'"
    shout = await app.call("call", target="livemod:GREETER.shout")
    assert shout["value"] == "'GOOD DAY WORLDGreeter'"  # __class__ is the existing class
    bumped = await app.call("call", target="livemod:BUMP")  # same closure, new code, old state
    assert bumped["value"] == "11"
    assert (await app.call("call", target="livemod:triple", args=[4]))["value"] == "12"
    assert (await app.call("call", target="livemod:scaled", args=[2]))["value"] == "10"

    constants = await app.call("hotReload", module="livemod", updateConstants=True)
    assert constants["constants"] == [{"name": "FACTOR", "old": "10", "new": "100"}]
    await app.wait_for("RESULTS[-1]", "201")

    listed = await app.call("reloads")
    assert [r["version"] for r in listed["reloads"]] == [report["version"], constants["version"]]
    reverted = await app.call("revertReload", version=report["version"])
    assert reverted["reverted"] == [constants["version"], report["version"]]
    await app.wait_for("RESULTS[-1]", "20")
    assert (await app.call("call", target="livemod:GREETER.greet"))["value"] == "'hello world'"
    assert "no such global" in await app.error("inspect", path="livemod:triple")
    assert (await app.call("call", target="livemod:BUMP"))["value"] == "12"  # old code again
    audit = [e for e in app.audit_entries() if e["action"] in ("hotReload", "revertReload")]
    assert [e["action"] for e in audit] == ["hotReload", "hotReload", "revertReload"]


async def test_a_failed_reload_changes_nothing(app):
    module = app.workdir / "livemod.py"
    original = module.read_text()
    await app.wait_for("RESULTS[-1]", "20")
    edit(module, ("    return x * FACTOR\n", "    return x * FACTOR + 1\n"),
         ("\ndef scaled(x, scale=2):", "\ndef scaled(x, scale=2:"))
    report = await app.call("hotReload", file=str(module))
    assert report["status"] == "error" and report["changed"] == []
    error = report["error"]
    assert error["type"] == "SyntaxError" and error["file"] == str(module)
    assert error["line"] == original.splitlines().index("def scaled(x, scale=2):") + 1
    # a class body that raises: the compute change in the same source is not applied either
    source = original.replace("    return x * FACTOR\n", "    return x * FACTOR + 1\n")
    source += "\n\nclass Broken:\n    ratio = 1 / 0\n"
    report = await app.call("hotReload", module="livemod", source=source)
    assert report["status"] == "error" and report["error"]["type"] == "ZeroDivisionError"
    await asyncio.sleep(0.2)
    assert (await app.value("RESULTS[-1]")) == "20"
    assert "no such global" in await app.error("inspect", path="livemod:Broken")
    assert (await app.call("reloads"))["reloads"] == []
    assert app.alive()


async def test_reports_what_could_not_change(app):
    module = app.workdir / "livemod.py"
    main = app.workdir / "live_app.py"
    # a generator suspended in the middle, and a closure whose free variables will change
    module.write_text(module.read_text() + (
        "\n\ndef numbers():\n    n = 0\n    while True:\n        yield n\n        n += 1\n\n\n"
        "NUMBERS = numbers()\nnext(NUMBERS)\n"))
    await app.call("eval", code="import importlib, livemod\nimportlib.reload(livemod)", force=True)
    edit(module, ("        yield n\n", "        yield n * 2\n"),
         ("    count = 0\n", "    count = 0\n    step = 5\n"),
         ("        count += 1\n", "        count += step\n"))
    report = await app.call("hotReload", file=str(module))
    assert report["status"] == "ok"
    assert report["generators"] == [{"name": "numbers", "count": 1, "reason": pytest.approx(
        report["generators"][0]["reason"])}]
    assert "keep running the old code" in report["generators"][0]["reason"]
    closure = [n for n in report["notChanged"] if n["name"] == "make_counter.<locals>.bump"]
    assert closure and "free variables changed" in closure[0]["reason"]
    # main() never returns: the change applies to later calls only, and the report says so
    edit(main, ("        time.sleep(0.02)\n", "        time.sleep(0.021)\n"))
    report = await app.call("hotReload", file=str(main))
    assert report["module"] == "__main__"
    running = [r for r in report["stillRunning"] if r["name"] == "main"]
    assert running and running[0]["thread"] == "MainThread"
    assert "finishes with the old code" in running[0]["reason"]


async def test_saving_a_file_reloads_it_through_the_watcher(app):
    module = app.workdir / "livemod.py"
    await app.wait_for("RESULTS[-1]", "20")
    reports: list[dict] = []

    async def reload(path: str) -> None:
        source = await asyncio.to_thread(Path(path).read_text)
        reports.append(await app.call("hotReload", file=path, source=source))

    watcher = Watcher([str(app.workdir)], reload, debounce=0.1)
    watcher.start()
    try:
        await asyncio.sleep(0.2)
        (app.workdir / "notes.txt").write_text("not python")
        module.touch()  # no change in content: no reload
        await asyncio.sleep(0.5)
        assert reports == []
        edit(module, ("    return x * FACTOR\n", "    return x * FACTOR - 1\n"))
        await app.wait_for("RESULTS[-1]", "19")
        assert [r["status"] for r in reports] == ["ok"]
        assert reports[0]["changed"] == [{"name": "compute", "functions": 1}]
        edit(module, ("    return x * FACTOR - 1\n", "    return x * FACTOR -\n"))
        for _ in range(50):
            if len(reports) == 2:
                break
            await asyncio.sleep(0.1)
        assert reports[1]["status"] == "error" and reports[1]["error"]["type"] == "SyntaxError"
        assert (await app.value("RESULTS[-1]")) == "19"
    finally:
        watcher.stop()
