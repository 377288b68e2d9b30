"""``devsandbox dap``: the Debug Adapter Protocol server (stdio, or TCP with --port)."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys

NAME = "dap"
HELP = "run the DAP server (stdio by default; --port for TCP)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, help="listen for DAP clients on this TCP port (0: any)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on with --port (default: loopback only)")
    parser.add_argument("--token", help="token clients must send as devsandbox.serverToken "
                        "(default: a random one; with --no-token none)")
    parser.add_argument("--no-token", action="store_true",
                        help="accept launch/attach without a token (loopback only)")


def run(args: argparse.Namespace) -> int:
    if args.port is None:
        # debugpy's adapter starts first, so that its start-up overlaps our imports
        from ..dap.early import start_early

        early = start_early()
        from ..dap import server

        return asyncio.run(server.serve_stdio(early))
    if args.no_token and args.host not in ("127.0.0.1", "localhost", "::1"):
        print("devsandbox dap: --no-token is only allowed on a loopback address", file=sys.stderr)
        return 2
    token = None if args.no_token else (args.token or secrets.token_urlsafe(24))
    return asyncio.run(_serve_tcp(args.host, args.port, token))


async def _serve_tcp(host: str, port: int, token: str | None) -> int:
    from .. import runtime
    from ..dap import server

    ready: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(server.serve_tcp(host, port, token, ready))
    bound_host, bound_port = await ready
    entry = runtime.register_server("dap", bound_host, bound_port, token)
    line = f"devsandbox dap listening on {bound_host}:{bound_port}"
    if token:
        line += f" token {token}"
    print(line, file=sys.stderr, flush=True)
    try:
        return await task
    finally:
        runtime.unregister(entry)
