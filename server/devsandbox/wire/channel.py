"""An asyncio DAP channel: framing, sequence numbers, pending requests.

The channel knows nothing about what messages mean.  Incoming requests and
events (and responses nobody waits for) go to ``on_message``; malformed input
goes to ``on_bad_input`` and the channel keeps reading.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, Awaitable, Callable, Protocol

from ..errors import PeerGone
from ..log import WIRE
from .framing import FrameError, FrameParser, encode

log = logging.getLogger(__name__)

Message = dict[str, Any]


class ByteStream(Protocol):
    async def read(self) -> bytes: ...  # b"" at end of stream

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class StreamPair:
    """asyncio StreamReader/StreamWriter as a ByteStream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read(self) -> bytes:
        try:
            return await self.reader.read(65536)
        except (ConnectionError, OSError):
            return b""

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            pass

    def close(self) -> None:
        try:
            self.writer.close()
        except (ConnectionError, OSError, RuntimeError):
            pass


def problem_in(message: Message) -> str:
    """What makes a decoded DAP message unusable, or "" if it is fine."""
    kind = message.get("type")
    if not isinstance(message.get("seq"), int):
        return "missing or non-integer 'seq'"
    if kind == "request":
        if not isinstance(message.get("command"), str) or not message["command"]:
            return "request without a 'command'"
        if "arguments" in message and not isinstance(message["arguments"], (dict, list, type(None))):
            return "'arguments' must be an object"
    elif kind == "response":
        if not isinstance(message.get("request_seq"), int):
            return "response without 'request_seq'"
    elif kind == "event":
        if not isinstance(message.get("event"), str):
            return "event without an 'event' name"
    else:
        return f"unknown message type {kind!r}"
    return ""


class Channel:
    def __init__(
        self,
        name: str,
        stream: ByteStream,
        on_message: Callable[[Message], Awaitable[None] | None],
        on_bad_input: Callable[[str, Message | None], None] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.stream = stream
        self.on_message = on_message
        self.on_bad_input = on_bad_input or (lambda reason, msg: None)
        self.on_close = on_close or (lambda: None)
        self._seq = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f"Channel[{self.name}]"

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._read_loop(), name=repr(self))

    async def _read_loop(self) -> None:
        parser = FrameParser()
        try:
            while True:
                data = await self.stream.read()
                if not data:
                    break
                for item in parser.feed(data):
                    if isinstance(item, FrameError):
                        log.error("%r: malformed frame: %s", self, item.describe())
                        self.on_bad_input(item.describe(), None)
                        continue
                    await self._dispatch(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in a handler must not kill the channel silently
            log.exception("%r: reader failed", self)
        finally:
            self._finish()

    async def _dispatch(self, message: Message) -> None:
        WIRE.debug("%s --> %s", self.name, message)
        problem = problem_in(message)
        if problem:
            log.error("%r: invalid message: %s: %s", self, problem, message)
            self.on_bad_input(problem, message)
            return
        if message["type"] == "response":
            fut = self._pending.pop(message["request_seq"], None)
            if fut is not None:
                if not fut.done():
                    fut.set_result(message)
                return
        try:
            result = self.on_message(message)
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            log.exception("%r: handler failed for %s", self, message)

    def _finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(PeerGone(f"{self.name} closed the connection"))
        self._pending.clear()
        self.stream.close()
        self.on_close()

    def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._finish()

    # -- sending ---------------------------------------------------------------------------

    def send(self, message: Message) -> int:
        """Send a message with this channel's next sequence number; returns that number."""
        if self.closed:
            raise PeerGone(f"{self.name} is closed")
        seq = next(self._seq)
        message = dict(message, seq=seq)
        WIRE.debug("%s <-- %s", self.name, message)
        self.stream.write(encode(message))
        return seq

    def request(self, command: str, arguments: Any = None) -> asyncio.Future[Message]:
        msg: Message = {"type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        return self.forward_request(msg)

    def forward_request(self, request: Message) -> asyncio.Future[Message]:
        """Send a request (renumbered) and return a future for its response."""
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        seq = self.send({k: v for k, v in request.items() if k != "seq"})
        self._pending[seq] = fut
        return fut

    def event(self, event: str, body: Any = None) -> None:
        msg: Message = {"type": "event", "event": event}
        if body is not None:
            msg["body"] = body
        self.send(msg)

    def respond(self, request: Message, body: Any = None, error: str | None = None,
                show_user: bool = True) -> None:
        msg: Message = {
            "type": "response",
            "request_seq": request.get("seq", 0),
            "command": request.get("command", ""),
            "success": error is None,
        }
        if error is not None:
            msg["message"] = error
            msg["body"] = {"error": {"id": 1, "format": error.replace("{", "{{").replace("}", "}}"),
                                     "showUser": show_user}}
        elif body is not None:
            msg["body"] = body
        self.send(msg)

    def relay_response(self, request: Message, response: Message) -> None:
        """Send ``response`` (from another peer) as the answer to ``request``."""
        msg = {k: v for k, v in response.items() if k not in ("seq", "request_seq")}
        msg["request_seq"] = request.get("seq", 0)
        self.send(msg)

    async def drain(self) -> None:
        await self.stream.drain()
