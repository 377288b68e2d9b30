"""The session's control endpoint, which the language server uses to read live state."""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest

from devsandbox.dapclient import DapClient
from devsandbox.errors import InvalidRequest
from devsandbox.wire import jsonrpc
from harness.dap import launch_config
from harness.samples import line, sample

LOOP = sample("loop.py")


def registered_sessions(runtime_dir):
    return [json.loads(p.read_text()) for p in (runtime_dir / "devsandbox").glob("session-*.json")]


def test_control_endpoint_reports_live_state(tmp_path):
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    dap = DapClient(env=env)
    try:
        dap.start("launch", launch_config(LOOP),
                  breakpoints={LOOP: [{"line": line("loop.py", "loop_body"), "condition": "i == 3"}]})
        stop = dap.stopped()
        [entry] = registered_sessions(tmp_path)
        path = next((tmp_path / "devsandbox").glob("session-*.json"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert os.path.dirname(LOOP) in entry["roots"]

        async def scenario():
            with pytest.raises(InvalidRequest, match="refused"):
                await jsonrpc.connect(entry["host"], entry["port"], "wrong-token")
            notes = []
            conn = await jsonrpc.connect(entry["host"], entry["port"], entry["token"],
                                         on_notification=lambda m, p: notes.append((m, p)))
            state = await conn.call("state")
            assert state["state"] == "paused" and state["reason"] == "breakpoint"
            frames = await conn.call("frames")
            assert frames[0]["name"] == "accumulate" and frames[0]["file"] == LOOP
            value = await conn.call("evaluate", {"expression": "total * 10 + i", "file": LOOP})
            assert value["result"] == "33"
            variables = {v["name"]: v["value"] for v in await conn.call("variables", {"file": LOOP})}
            assert variables == {"i": "3", "n": "10", "total": "3"}
            with pytest.raises(jsonrpc.RpcError):
                await conn.call("evaluate", {"expression": ""})
            # a changed value is announced, so that readers refresh what they show
            loop = asyncio.get_running_loop()
            frame = await loop.run_in_executor(None, lambda: dap.top_frame(stop["threadId"]))
            scopes = await loop.run_in_executor(None, lambda: dap.request(
                "scopes", {"frameId": frame["id"]})["body"]["scopes"])
            seen = len(notes)
            await loop.run_in_executor(None, lambda: dap.request("setVariable", {
                "variablesReference": scopes[0]["variablesReference"], "name": "total",
                "value": "30"}))
            for _ in range(100):
                if len(notes) > seen:
                    break
                await asyncio.sleep(0.05)
            assert notes[seen:] and notes[seen][1]["state"] == "paused"
            value = await conn.call("evaluate", {"expression": "total", "file": LOOP})
            assert value["result"] == "30"
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: dap.request("setBreakpoints", {"source": {"path": LOOP}, "breakpoints": []}))
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: dap.request("continue", {"threadId": stop["threadId"]}))
            for _ in range(100):
                if any(p.get("state") in ("running", "ended") for _, p in notes):
                    break
                await asyncio.sleep(0.05)
            assert any(m == "stateChanged" and p["state"] in ("running", "ended") for m, p in notes)
            conn.close()

        asyncio.run(scenario())
        dap.event("exited", timeout=20)
        dap.request("disconnect")
        for _ in range(50):
            if not registered_sessions(tmp_path):
                break
            import time
            time.sleep(0.1)
        assert registered_sessions(tmp_path) == []
    finally:
        assert dap.close() == 0
