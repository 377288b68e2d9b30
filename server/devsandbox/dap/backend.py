"""The link to debugpy's adapter: spawned over stdio, or reached over TCP for child sessions."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from ..errors import CannotHandle, InvalidRequest
from ..wire.channel import Channel, StreamPair

log = logging.getLogger(__name__)

# Requests debugpy answers (its adapter's own handlers plus pydevd's on_*_request).
# Anything else sent to debugpy would get no answer and wedge the session, so the
# proxy never forwards other requests.
DEBUGPY_REQUESTS = frozenset({
    "initialize", "launch", "attach", "configurationDone", "disconnect", "terminate", "pause",
    "continue", "next", "stepIn", "stepInTargets", "stepOut", "setBreakpoints",
    "setFunctionBreakpoints", "setExceptionBreakpoints", "threads", "stackTrace", "scopes",
    "variables", "setVariable", "setExpression", "evaluate", "exceptionInfo", "completions",
    "modules", "source", "gotoTargets", "goto", "setDebuggerProperty", "pydevdSystemInfo",
    "setPydevdSourceMap", "debugpySystemInfo", "pydevdAuthorize",
})

# Requests debugpy may send to the client (reverse requests) that the proxy relays.
REVERSE_ALLOWED = frozenset({"runInTerminal", "startDebugging"})


class Backend:
    """One connection to a debugpy adapter."""

    def __init__(self, channel: Channel, process: asyncio.subprocess.Process | None) -> None:
        self.channel = channel
        self.process = process

    @classmethod
    async def spawn(cls, on_message: Callable[[dict], Any], on_close: Callable[[], None]) -> Backend:
        argv = [sys.executable, "-m", "debugpy.adapter"]
        log_dir = os.environ.get("DEVSANDBOX_DEBUGPY_LOG_DIR")
        if log_dir:
            argv += ["--log-dir", log_dir]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None and proc.stdin is not None
        channel = Channel("debugpy", StreamPair(proc.stdout, proc.stdin), on_message,
                          on_close=on_close)
        channel.start()
        log.info("spawned debugpy adapter pid %s", proc.pid)
        return cls(channel, proc)

    @classmethod
    async def connect(cls, host: str, port: int, on_message: Callable[[dict], Any],
                      on_close: Callable[[], None]) -> Backend:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (TimeoutError, OSError) as exc:
            raise InvalidRequest(f"Cannot connect to the debug adapter at {host}:{port}: {exc}")
        channel = Channel(f"debugpy@{host}:{port}", StreamPair(reader, writer), on_message,
                          on_close=on_close)
        channel.start()
        return cls(channel, None)

    async def close(self) -> None:
        self.channel.close()
        proc = self.process
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    def check_forwardable(self, command: str) -> None:
        if command not in DEBUGPY_REQUESTS:
            raise CannotHandle(f"The request '{command}' is not supported by DevSandbox or debugpy.")
