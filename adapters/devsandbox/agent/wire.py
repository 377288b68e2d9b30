"""The server <-> agent protocol: the only agent module the server imports.

Transport: a TCP socket on loopback (or a host the user chose), carrying
Content-Length framed JSON-RPC 2.0 messages, the framing DAP and LSP use.

Handshake: whoever opens the connection first sends the request ``hello``
with ``{"token": ..., "protocol": PROTOCOL_VERSION, "role": "server"|"agent",
"pid": ...}``.  The listening side compares the token in constant time; on a
mismatch it answers an error, logs the refusal and closes the connection.
Nothing else is accepted before a successful hello.

Directions:
- launch and attach-by-pid: the server listens, the agent connects (the
  address and token reach the agent through ENV_AGENT / ENV_TOKEN or through
  the injected bootstrap code);
- embedded (``devsandbox.listen``): the agent listens, the server connects.
After the handshake the server calls the agent's methods; the agent sends
notifications (method names under ``agent/``).
"""

from __future__ import annotations

PROTOCOL_VERSION = 1

ENV_AGENT = "DEVSANDBOX_AGENT"  # "host:port" of the server's agent listener
ENV_TOKEN = "DEVSANDBOX_TOKEN"  # the per-session token
ENV_OPTIONS = "DEVSANDBOX_OPTIONS"  # JSON object of agent options (launch config "devsandbox" section)
ENV_PARENT = "DEVSANDBOX_PARENT_PID"  # set for child processes, links their agent to the parent's

# methods the agent answers
HELLO = "hello"
PING = "ping"
DISCOVER = "discover"
SHUTDOWN = "shutdown"

# notifications the agent sends
AGENT_LOG = "agent/log"
AGENT_CHILD = "agent/child"  # a child process's agent came up: {"pid": ..., "parent": ...}

# errors (JSON-RPC error codes)
ERR_UNAUTHORIZED = -32001
ERR_PROTOCOL = -32002
