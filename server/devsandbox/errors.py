"""DevSandbox's error vocabulary, mapped to protocol errors at the edges."""

from __future__ import annotations


class DevsandboxError(Exception):
    """Base class: the message is shown to the user as it is."""


class InvalidRequest(DevsandboxError):
    """The caller's fault: bad arguments, a missing file, an unknown command."""


class CannotHandle(DevsandboxError):
    """Not supported, or beyond what DevSandbox can do in this state."""


class PeerGone(DevsandboxError):
    """debugpy, the agent or the client went away."""
