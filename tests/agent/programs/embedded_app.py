"""Embedded mode: the agent listens (port from argv, token from the environment)."""

import os
import sys
import time

import devsandbox.agent


def fail(params):
    if params.get("kind") == "invalid":
        raise devsandbox.agent.RpcError(-32602, "kind must be sensible")
    raise ValueError("this method always fails")


# methods a later feature would add
devsandbox.agent.register("test/echo", lambda params: {"echo": params})
devsandbox.agent.register("test/fail", fail)
devsandbox.agent.register(
    "test/notify", lambda params: devsandbox.agent.notify("test/event", params)
)

host, port = devsandbox.agent.serve("127.0.0.1", int(sys.argv[1]), os.environ["TEST_AGENT_TOKEN"])
print("LISTENING", port, flush=True)
for _ in range(1200):
    time.sleep(0.1)
