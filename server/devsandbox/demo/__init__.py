"""The program `devsandbox demo` debugs: a small shop with a worker thread and an asyncio loop."""
