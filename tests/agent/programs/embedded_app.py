"""Embedded mode: the agent listens (port from argv, token from the environment)."""

import os
import sys
import time

import devsandbox.agent

host, port = devsandbox.agent.serve("127.0.0.1", int(sys.argv[1]), os.environ["TEST_AGENT_TOKEN"])
print("LISTENING", port, flush=True)
for _ in range(1200):
    time.sleep(0.1)
