"""The agent next to real debugpy: it answers while the program is stopped at a breakpoint,
and its threads are invisible to the debugger (never listed, never suspended)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from agent_support import PROGRAMS, clean_env, marker_line

from devsandbox.agent import wire
from devsandbox.agent_link import AgentHub
from devsandbox.dapclient import DapClient

APP = PROGRAMS / "stopped_app.py"


async def test_agent_answers_while_stopped_at_a_breakpoint(hub: AgentHub, tmp_path: Path) -> None:
    line = marker_line(APP, "bp")
    env = clean_env()
    config = {
        "program": str(APP),
        "cwd": str(tmp_path),
        "console": "internalConsole",
        "env": hub.launch_env(env=env),
        "justMyCode": True,
        "subProcess": False,
    }
    dap = DapClient([sys.executable, "-m", "debugpy.adapter"], env=env)
    try:
        await asyncio.to_thread(dap.start, "launch", config, {str(APP): [{"line": line}]})
        stopped = await asyncio.to_thread(dap.stopped, 30)
        thread_id = stopped["threadId"]
        top = await asyncio.to_thread(dap.top_frame, thread_id)
        assert top["line"] == line

        conn = await hub.wait_for_agent(timeout=15)
        assert (await hub.call(wire.PING, timeout=5))["pid"] == conn.pid
        report = await hub.discover(timeout=15)  # the whole program is suspended by debugpy
        handler = next(t for t in report["threads"] if t["name"] == "request-handler")
        assert handler["suspended"] is True  # the debugger's own waiting frames are left out
        assert handler["stack"][0]["function"] == "handler"
        assert handler["stack"][0]["line"] == line
        assert [f["function"] for f in handler["stack"][:2]] == ["handler", "serve"]

        names = [
            t["name"] for t in (await asyncio.to_thread(dap.request, "threads"))["body"]["threads"]
        ]
        assert "request-handler" in names
        assert not [n for n in names if "devsandbox" in n], names
    finally:
        await asyncio.to_thread(dap.request, "disconnect", {"terminateDebuggee": True}, 10, False)
        await asyncio.to_thread(dap.close)


async def test_debugpy_helpers_that_inherit_the_environment_start_no_agent(
    hub: AgentHub, tmp_path: Path
) -> None:
    """With the variables in the adapter's own environment, its launcher inherits them too:
    only the program itself must connect an agent."""
    env = clean_env()
    env.update(hub.launch_env(env=env))
    config = {
        "program": str(APP),
        "cwd": str(tmp_path),
        "console": "internalConsole",
        "justMyCode": True,
        "subProcess": False,
    }
    dap = DapClient([sys.executable, "-m", "debugpy.adapter"], env=env)
    try:
        await asyncio.to_thread(
            dap.start, "launch", config, {str(APP): [{"line": marker_line(APP, "bp")}]}
        )
        await asyncio.to_thread(dap.stopped, 30)
        process = await asyncio.to_thread(dap.event, "process", 10)
        program_pid = process["body"]["systemProcessId"]
        conn = await hub.wait_for_agent(timeout=15)
        await asyncio.sleep(0.3)  # would a helper's agent come late?
        assert conn.pid == program_pid
        assert list(hub.agents) == [program_pid]
    finally:
        await asyncio.to_thread(dap.request, "disconnect", {"terminateDebuggee": True}, 10, False)
        await asyncio.to_thread(dap.close)
