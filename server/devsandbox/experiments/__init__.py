"""Experiments on the server side: the stored model, inputs from recordings, running a job
offline or through the agent, and reports (text and SVG).  The measuring itself is the
agent's (``devsandbox.agent.experiments``), in the program's interpreter."""
