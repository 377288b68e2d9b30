"""The link to debugpy's adapter: spawned over stdio, or reached over TCP for child sessions."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Callable
from typing import Any

from ..errors import CannotHandle, InvalidRequest
from ..wire.channel import Channel, StreamPair
from .early import adapter_argv

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


async def _start_adapter() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *adapter_argv(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


class _StartedProcess:
    """A debugpy adapter started with subprocess.Popen before asyncio ran, with stream pipes."""

    def __init__(self, popen: subprocess.Popen[bytes], stdout: asyncio.StreamReader,
                 stdin: asyncio.StreamWriter) -> None:
        self.popen, self.stdout, self.stdin = popen, stdout, stdin
        self.pid = popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    async def wait(self) -> int:
        return await asyncio.to_thread(self.popen.wait)

    def kill(self) -> None:
        self.popen.kill()


async def _adopt(popen: subprocess.Popen[bytes]) -> Any:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), popen.stdout)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, popen.stdin)
    return _StartedProcess(popen, reader, asyncio.StreamWriter(transport, protocol, None, loop))


_prewarmed: asyncio.Future[Any] | None = None


def prewarm(early: subprocess.Popen[bytes] | None = None) -> None:
    """Start the next session's debugpy adapter now (or adopt one started early)."""
    global _prewarmed
    if _prewarmed is None:
        _prewarmed = asyncio.ensure_future(_adopt(early) if early else _start_adapter())


async def discard_prewarmed() -> None:
    """Stop an adapter started by prewarm() that no session took."""
    global _prewarmed
    starting, _prewarmed = _prewarmed, None
    if starting is None:
        return
    try:
        proc = await starting
    except OSError:
        return
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


class Backend:
    """One connection to a debugpy adapter."""

    def __init__(self, channel: Channel, process: asyncio.subprocess.Process | None) -> None:
        self.channel = channel
        self.process = process

    @classmethod
    async def spawn(cls, on_message: Callable[[dict], Any], on_close: Callable[[], None]) -> Backend:
        global _prewarmed
        starting, _prewarmed = _prewarmed, None
        proc = await (starting if starting is not None else _start_adapter())
        if proc.returncode is not None:  # the prewarmed adapter died meanwhile
            proc = await _start_adapter()
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
