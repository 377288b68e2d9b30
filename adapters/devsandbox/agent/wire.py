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

# An agent's hello (its params when it connects, its result when a server connects to it) also
# carries: "ppid", "parent" (pid of the nearest ancestor process with an agent, or null),
# "python", "implementation", "executable", "argv", "cwd" and "methods" (the methods it answers).
# A server's hello result is {"protocol", "role": "server", "pid"}.

# methods the agent answers
HELLO = "hello"
PING = "ping"
DISCOVER = "discover"
SHUTDOWN = "shutdown"
LOOKUP_VALUE = "values/lookup"  # {file, expression} -> a module global's value (agent/values.py)

# live state, injection and hot swap (agent/live/): the DAP request ``devsandbox/<verb>`` maps to
# the agent method LIVE_PREFIX + verb.  Every call may carry "client" (who asks: the audit log and
# per-client namespaces, handles and safety levels are keyed by it) and "force".
LIVE_PREFIX = "live/"
LIVE_VERBS = (
    "inspect", "find", "set", "rollback", "transform", "backup", "restore", "changes",
    "call", "eval", "completions", "scan", "sendMessage", "startWorker", "stopWorker", "workers",
    "hotReload", "revertReload", "reloads", "audit", "setSafety",
)

# experiments (agent/experiments/): the DAP request ``devsandbox/experiment.<verb>`` for the verbs
# below maps to the agent method EXPERIMENT_PREFIX + verb ("run" also runs without an agent).
EXPERIMENT_PREFIX = "experiment/"
EXPERIMENT_VERBS = ("run", "capture", "canaryStart", "canarySetShare", "canaryStatus",
                    "canaryStop")
EXPERIMENT_CANARY = "experiment/canary"  # notification: {"event": "rolledBack", "canary": {...}}

# notifications the agent sends
AGENT_LOG = "agent/log"
AGENT_CHILD = "agent/child"  # a child process's agent came up: {"pid": ..., "parent": ...}

# errors (JSON-RPC error codes)
ERR_UNAUTHORIZED = -32001
ERR_PROTOCOL = -32002

# -- embedded mode registry --------------------------------------------------------------------
# ``devsandbox.listen()`` announces itself in a per-user runtime directory so that a server on
# the same machine can find the agent's port and token from the debugpy port alone.  The
# directory is created with mode 0700 and each file with mode 0600; a file is removed when its
# program exits, and files of dead programs are removed when a new one is written.
REGISTRY_ENV_DIR = "XDG_RUNTIME_DIR"  # the registry lives in $XDG_RUNTIME_DIR/devsandbox ...
REGISTRY_SUBDIR = "devsandbox"
REGISTRY_FALLBACK_DIR = "~/.cache/devsandbox/run"  # ... or here when that variable is unset
REGISTRY_FILE_PREFIX = "embedded-"
REGISTRY_FILE_SUFFIX = ".json"  # one file per program: embedded-<debugpy port>.json
REGISTRY_KEYS = ("pid", "host", "port", "agent_port", "token", "python", "program")

import os  # noqa: E402  (kept next to the only code that needs it)
from typing import Mapping  # noqa: E402


def registry_dir(environ: Mapping[str, str] | None = None) -> str:
    """The per-user runtime directory holding the embedded-mode registry (not created here)."""
    env = os.environ if environ is None else environ
    runtime = env.get(REGISTRY_ENV_DIR)
    if runtime:
        return os.path.join(runtime, REGISTRY_SUBDIR)
    return os.path.expanduser(REGISTRY_FALLBACK_DIR)


def registry_file(port: int, environ: Mapping[str, str] | None = None) -> str:
    """Path of the registry file of the embedded program whose debugpy listens on ``port``."""
    name = f"{REGISTRY_FILE_PREFIX}{int(port)}{REGISTRY_FILE_SUFFIX}"
    return os.path.join(registry_dir(environ), name)
