"""Re-export of the agent protocol constants (the server's one window onto the agent side)."""

from devsandbox.agent.wire import *  # noqa: F401,F403
from devsandbox.agent.wire import PROTOCOL_VERSION  # noqa: F401
