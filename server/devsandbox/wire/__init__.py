"""Protocol plumbing shared by the DAP front, the debugpy link and the agent link."""
