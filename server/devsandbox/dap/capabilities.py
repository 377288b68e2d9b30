"""What DevSandbox adds to debugpy's capabilities in the initialize response."""

from __future__ import annotations

from typing import Any

import devsandbox
from devsandbox.agent import wire as _agent_wire
from devsandbox.agent.wire import PROTOCOL_VERSION

# Live state, injection and hot swap (dap/live.py): devsandbox/<verb> for the agent's live/<verb>.
LIVE_REQUESTS = tuple(f"devsandbox/{verb}" for verb in _agent_wire.LIVE_VERBS) + ("devsandbox/watch",)
# Experiments (dap/experiments.py): devsandbox/experiment.<verb>.
EXPERIMENT_REQUESTS = tuple(f"devsandbox/experiment.{verb}" for verb in (
    "run", "list", "get", "delete", "capture", "canaryStart", "canarySetShare", "canaryStatus",
    "canaryStop"))
# Custom requests this server answers itself (named devsandbox/<verb>).
CUSTOM_REQUESTS = ("devsandbox/discover", "devsandbox/connectionState") + LIVE_REQUESTS \
    + EXPERIMENT_REQUESTS
# Time travel (dap/timetravel.py): its custom requests and the standard capabilities it adds.
TIME_TRAVEL_REQUESTS = (
    "devsandbox/stepBackIn", "devsandbox/stepBackOut", "devsandbox/lastWrite",
    "devsandbox/valueHistory", "devsandbox/timeline", "devsandbox/play", "devsandbox/position",
    "devsandbox/gotoStep",
    "devsandbox/startRecording", "devsandbox/stopRecording", "devsandbox/replayCall",
    "devsandbox/returnToLive",
)
TIME_TRAVEL_CAPABILITIES = {
    "supportsStepBack": True,
    "supportsDataBreakpoints": True,
    "supportsGotoTargetsRequest": True,
    "supportsConditionalBreakpoints": True,
    "supportsHitConditionalBreakpoints": True,
    "supportsLogPoints": True,
    "supportsFunctionBreakpoints": True,
}


def merge(debugpy_caps: dict[str, Any] | None) -> dict[str, Any]:
    """debugpy's capabilities plus ours; a pure function."""
    caps = dict(debugpy_caps or {})
    caps.update(TIME_TRAVEL_CAPABILITIES)
    caps["devsandbox"] = {
        "version": devsandbox.__version__,
        "agentProtocol": PROTOCOL_VERSION,
        "requests": list(CUSTOM_REQUESTS + TIME_TRAVEL_REQUESTS),
    }
    return caps
