"""Canaries in a running program: the share of live calls routed to the variant, changing
it, sticky routing by arguments, and the automatic rollback of a failing variant."""

from __future__ import annotations

import asyncio
import time

import pytest

from devsandbox.errors import DevsandboxError

pytestmark = pytest.mark.timeout(180)

FLOAT_VARIANT = {"name": "float", "source": "def handle(n):\n    return float(n * 2)\n"}
FAILING_VARIANT = {"name": "odd-fails", "source": (
    "def handle(n):\n    if n % 2:\n        raise ValueError(f'odd {n}')\n    return n * 2\n")}


async def wait_calls(app, ident: str, calls: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = await app.call("canaryStatus", id=ident)
        if status["calls"] >= calls or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.1)


async def test_the_share_of_routed_calls_follows_the_setting(app) -> None:
    started = await app.call("canaryStart", target="__main__:handle", variant=FLOAT_VARIANT,
                             share=0.3)
    ident = started["id"]
    assert started["state"] == "running" and started["share"] == 0.3
    assert await app.eval("handle is ORIGINAL_HANDLE") == "False"
    status = await wait_calls(app, ident, 800)
    assert status["calls"] >= 800, status
    assert 0.22 <= status["observedShare"] <= 0.38, status
    routes = status["routes"]
    assert routes["variant"]["errors"] == 0 and routes["baseline"]["errors"] == 0
    assert routes["variant"]["latencyNs"]["median"] > 0
    assert status["latency"]["verdict"] in ("faster", "slower", "no significant difference")

    before = (await app.call("canarySetShare", id=ident, share=0.9))["routes"]
    assert (await app.call("canaryStatus", id=ident))["share"] == 0.9
    before_total = before["variant"]["calls"] + before["baseline"]["calls"]
    after = (await wait_calls(app, ident, before_total + 800))["routes"]
    new_variant = after["variant"]["calls"] - before["variant"]["calls"]
    new_total = new_variant + after["baseline"]["calls"] - before["baseline"]["calls"]
    assert new_total >= 700 and 0.82 <= new_variant / new_total <= 0.97

    stopped = await app.call("canaryStop", id=ident)
    assert stopped["state"] == "stopped" and [h["share"] for h in stopped["history"]] == [0.3, 0.9]
    assert await app.eval("handle is ORIGINAL_HANDLE") == "True"
    assert int(await app.eval("CALLS['errors']")) == 0
    with pytest.raises(DevsandboxError, match="no canary"):
        await app.call("canaryStatus", id=ident)


async def test_sticky_routing_sends_the_same_arguments_the_same_way(app) -> None:
    started = await app.call("canaryStart", target="__main__:handle", variant=FLOAT_VARIANT,
                             share=0.5, sticky=True)
    await app.eval("SEEN.clear()")
    await wait_calls(app, started["id"], 600)
    # every argument saw one result type only; some went to the variant, some did not
    seen = await app.eval("(len(SEEN), all(len(v) == 1 for v in SEEN.values()), "
                          "sorted(set().union(*SEEN.values())))")
    assert seen == "(50, True, ['float', 'int'])"
    await app.call("canaryStop", id=started["id"])


async def test_a_failing_variant_is_rolled_back(app) -> None:
    started = await app.call("canaryStart", target="__main__:handle", variant=FAILING_VARIANT,
                             share=0.5, threshold=0.05, minCalls=20)
    ident = started["id"]
    deadline = time.monotonic() + 30
    while not app.notes and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    [(method, note)] = app.notes
    assert method == "experiment/canary" and note["event"] == "rolledBack"
    assert note["canary"]["id"] == ident and note["canary"]["state"] == "rolledBack"
    status = await app.call("canaryStatus", id=ident)
    assert status["state"] == "rolledBack" and "error rate" in status["reason"]
    variant = status["routes"]["variant"]
    assert variant["calls"] >= 20 and variant["errors"] > 0
    assert variant["errorTypes"] == {"ValueError": variant["errors"]}
    assert status["routes"]["baseline"]["errors"] == 0
    # the original function is back, and the program's errors stop growing
    assert await app.eval("handle is ORIGINAL_HANDLE") == "True"
    errors = int(await app.eval("CALLS['errors']"))
    assert errors == variant["errors"]  # the callers saw the variant's exceptions
    await asyncio.sleep(0.3)
    assert int(await app.eval("CALLS['errors']")) == errors
    with pytest.raises(DevsandboxError, match="rolledBack"):
        await app.call("canarySetShare", id=ident, share=0.2)
    assert (await app.call("canaryStop", id=ident))["state"] == "rolledBack"


async def test_canary_requests_are_checked(app) -> None:
    with pytest.raises(DevsandboxError, match="share"):
        await app.call("canaryStart", target="__main__:handle", variant=FLOAT_VARIANT, share=2)
    with pytest.raises(DevsandboxError, match="does not compile"):
        await app.call("canaryStart", target="__main__:handle",
                       variant={"source": "def handle(n)\n  return n"})
    with pytest.raises(DevsandboxError, match="refused"):
        await app.call("canaryStart", target="__main__:handle",
                       variant={"source": "import os\ndef handle(n):\n    os.system('true')\n"})
    first = await app.call("canaryStart", target="__main__:handle", variant=FLOAT_VARIANT)
    with pytest.raises(DevsandboxError, match="already"):
        await app.call("canaryStart", target="__main__:handle", variant=FLOAT_VARIANT)
    await app.call("canaryStop", id=first["id"])
    assert await app.eval("handle is ORIGINAL_HANDLE") == "True"
