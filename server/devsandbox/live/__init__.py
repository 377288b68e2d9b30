"""Live state on the server side: the workspace watcher for hot reload and the command line's
access to agents (``devsandbox inspect|set|call|eval|reload|rollback|audit``)."""
