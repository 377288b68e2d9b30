"""A slow injected evaluation does not hold up other requests to the same agent."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from devsandbox.agent_link import AgentHub

PROGRAM = """
import time
counter = {"n": 0}
while True:
    counter["n"] += 1
    time.sleep(0.01)
"""


def test_inspect_answers_while_an_eval_runs(tmp_path):
    program = tmp_path / "busy.py"
    program.write_text(PROGRAM)

    async def scenario():
        hub = AgentHub()
        await hub.listen()
        env = dict(__import__("os").environ, **hub.launch_env())
        proc = subprocess.Popen([sys.executable, str(program)], env=env)
        try:
            agent = await hub.wait_for_agent(timeout=20)
            slow = asyncio.ensure_future(hub.call(
                "live/eval", {"code": "import time\ntime.sleep(3)\n'done'", "timeout": 10,
                              "client": "t"}, pid=agent.pid, timeout=20))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            answer = await hub.call("live/inspect", {"path": "counter", "client": "t"},
                                    pid=agent.pid, timeout=20)
            waited = time.monotonic() - started
            assert "n" in str(answer)
            assert waited < 2.0, f"inspect waited {waited:.2f} s behind the eval"
            assert not slow.done()
            result = await slow
            assert "done" in str(result)
        finally:
            proc.kill()
            proc.wait()
            await hub.close()

    asyncio.run(scenario())
