"""A small JSON-RPC 2.0 endpoint over our Content-Length framing, with a token handshake.

Used between DevSandbox's own processes (the language server asks debug sessions
for live state).  The first request on a connection must be ``hello`` with the
right token; anything else, or a wrong token, closes the connection.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
from typing import Any, Awaitable, Callable

from ..errors import CannotHandle, DevsandboxError, InvalidRequest, PeerGone
from .framing import FrameError, FrameParser, encode

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[Any]]
ERR_INVALID = -32602
ERR_NOT_FOUND = -32601
ERR_FAILED = -32000
ERR_UNAUTHORIZED = -32001


class RpcError(DevsandboxError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 handlers: dict[str, Handler] | None = None,
                 on_notification: Callable[[str, Any], None] | None = None) -> None:
        self.reader, self.writer = reader, writer
        self.handlers = handlers or {}
        self.on_notification = on_notification
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.closed = asyncio.Event()

    def send(self, message: dict[str, Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(dict(message, jsonrpc="2.0")))

    async def call(self, method: str, params: Any = None, timeout: float = 10.0) -> Any:
        if self.closed.is_set():
            raise PeerGone("the connection is closed")
        msg_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        self.send({"id": msg_id, "method": method, "params": params})
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise CannotHandle(f"no answer to {method} within {timeout:g} s")
        finally:
            self._pending.pop(msg_id, None)

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"method": method, "params": params})

    async def serve(self, first: dict[str, Any] | None = None) -> None:
        parser = FrameParser()
        try:
            if first is not None:
                await self._dispatch(first)
            while True:
                try:
                    data = await self.reader.read(65536)
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    break
                for item in parser.feed(data):
                    if isinstance(item, FrameError):
                        log.warning("control: dropped a malformed frame: %s", item.describe())
                        continue
                    await self._dispatch(item)
        finally:
            self.close()

    async def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" not in message:
            future = self._pending.get(message.get("id"))  # type: ignore[arg-type]
            if future is not None and not future.done():
                error = message.get("error")
                if error:
                    future.set_exception(RpcError(error.get("code", ERR_FAILED),
                                                  error.get("message", "error")))
                else:
                    future.set_result(message.get("result"))
            return
        if "id" not in message:
            if self.on_notification:
                self.on_notification(message["method"], message.get("params"))
            return
        asyncio.ensure_future(self._answer(message))

    async def _answer(self, message: dict[str, Any]) -> None:
        handler = self.handlers.get(message["method"])
        reply: dict[str, Any] = {"id": message["id"]}
        if handler is None:
            reply["error"] = {"code": ERR_NOT_FOUND, "message": f"unknown method {message['method']}"}
        else:
            try:
                reply["result"] = await handler(message.get("params"))
            except InvalidRequest as exc:
                reply["error"] = {"code": ERR_INVALID, "message": str(exc)}
            except DevsandboxError as exc:
                reply["error"] = {"code": ERR_FAILED, "message": str(exc)}
            except Exception as exc:
                log.exception("control handler %s failed", message["method"])
                reply["error"] = {"code": ERR_FAILED, "message": f"internal error: {exc!r}"}
        self.send(reply)

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(PeerGone("the connection closed"))
        try:
            self.writer.close()
        except (OSError, RuntimeError):
            pass


async def _first_message(reader: asyncio.StreamReader, timeout: float) -> dict[str, Any] | None:
    parser = FrameParser()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        data = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - loop.time()))
        if not data:
            return None
        for item in parser.feed(data):
            if isinstance(item, dict):
                if parser.pending:
                    raise ValueError("data after hello before its answer")
                return item
            return None


async def serve(token: str, handlers: dict[str, Handler], host: str = "127.0.0.1", port: int = 0,
                on_connection: Callable[[Connection], None] | None = None) -> asyncio.AbstractServer:
    """Listen for connections that must open with ``hello`` carrying ``token``."""

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            hello = await _first_message(reader, 5.0)
        except (asyncio.TimeoutError, ValueError, OSError):
            hello = None
        given = ((hello or {}).get("params") or {}).get("token") if isinstance(hello, dict) else None
        if not (hello and hello.get("method") == "hello" and isinstance(given, str)
                and hmac.compare_digest(given, token)):
            log.warning("control: refused a connection from %s without the right token", peer)
            if hello and "id" in hello:
                writer.write(encode({"jsonrpc": "2.0", "id": hello["id"], "error": {
                    "code": ERR_UNAUTHORIZED, "message": "wrong or missing token"}}))
            writer.close()
            return
        conn = Connection(reader, writer, handlers)
        conn.send({"id": hello.get("id"), "result": {"ok": True}})
        if on_connection:
            on_connection(conn)
        await conn.serve()

    return await asyncio.start_server(accept, host, port)


async def connect(host: str, port: int, token: str,
                  on_notification: Callable[[str, Any], None] | None = None,
                  timeout: float = 5.0) -> Connection:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    conn = Connection(reader, writer, on_notification=on_notification)
    asyncio.ensure_future(conn.serve())
    try:
        await conn.call("hello", {"token": token}, timeout)
    except RpcError as exc:
        conn.close()
        raise InvalidRequest(f"the session at {host}:{port} refused us: {exc}")
    return conn
