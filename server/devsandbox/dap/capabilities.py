"""What DevSandbox adds to debugpy's capabilities in the initialize response."""

from __future__ import annotations

from typing import Any

import devsandbox

from ..agent_protocol import PROTOCOL_VERSION

# Custom requests this server answers itself (named devsandbox/<verb>).
CUSTOM_REQUESTS = ("devsandbox/discover", "devsandbox/connectionState")


def merge(debugpy_caps: dict[str, Any] | None) -> dict[str, Any]:
    """debugpy's capabilities plus ours; a pure function."""
    caps = dict(debugpy_caps or {})
    caps["devsandbox"] = {
        "version": devsandbox.__version__,
        "agentProtocol": PROTOCOL_VERSION,
        "requests": list(CUSTOM_REQUESTS),
    }
    return caps
