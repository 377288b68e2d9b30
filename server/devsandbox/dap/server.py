"""Serving DAP sessions over stdio or TCP."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import subprocess
import sys
import threading

from ..wire.channel import StreamPair
from . import backend
from .session import Session

log = logging.getLogger(__name__)


class StdioStream:
    """The process's own stdin/stdout as a ByteStream.

    Reading and writing happen on two daemon threads, so any kind of file
    descriptor works (pipe, pty, regular file) and a slow client never blocks
    the event loop.
    """

    def __init__(self, in_fd: int, out_fd: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.in_fd, self.out_fd = in_fd, out_fd
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.outgoing: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._reader, name="dap-stdin", daemon=True).start()
        self._writer_thread = threading.Thread(target=self._writer, name="dap-stdout", daemon=True)
        self._writer_thread.start()

    def _reader(self) -> None:
        while True:
            try:
                data = os.read(self.in_fd, 65536)
            except OSError:
                data = b""
            self.loop.call_soon_threadsafe(self.incoming.put_nowait, data)
            if not data:
                return

    def _writer(self) -> None:
        while True:
            data = self.outgoing.get()
            if data is None:
                return
            try:
                view = memoryview(data)
                while view:
                    written = os.write(self.out_fd, view)
                    view = view[written:]
            except OSError:
                return

    async def read(self) -> bytes:
        return await self.incoming.get()

    def write(self, data: bytes) -> None:
        self.outgoing.put(data)

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        self.outgoing.put(None)

    def flush(self, timeout: float = 5.0) -> None:
        self.close()
        self._writer_thread.join(timeout)


def take_stdio() -> tuple[int, int]:
    """Keep the real stdin/stdout for the protocol; make print() and input() harmless."""
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # anything written to fd 1 by accident ends up on stderr
    os.close(devnull)
    sys.stdin = open(os.devnull)
    sys.stdout = sys.stderr
    return in_fd, out_fd


async def serve_stdio(early: subprocess.Popen[bytes] | None = None) -> int:
    in_fd, out_fd = take_stdio()
    backend.prewarm(early)
    stream = StdioStream(in_fd, out_fd)
    session = Session(stream)
    session.start()
    await session.done.wait()
    await backend.discard_prewarmed()
    stream.flush()
    return 0


async def serve_tcp(host: str, port: int, token: str | None, ready: asyncio.Future[tuple[str, int]] | None = None) -> int:
    sessions: set[Session] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        log.info("DAP client connected from %s", peer)
        session = Session(StreamPair(reader, writer), server_token=token)
        backend.prewarm()  # for this session if it is not taken yet, else for the next one
        sessions.add(session)
        session.start()
        await session.done.wait()
        sessions.discard(session)
        log.info("DAP client %s done", peer)

    server = await asyncio.start_server(on_connect, host, port)
    address = server.sockets[0].getsockname()[:2]
    if ready is not None:
        ready.set_result(address)
    backend.prewarm()
    try:
        async with server:
            await server.serve_forever()
    finally:
        await backend.discard_prewarmed()
    return 0
