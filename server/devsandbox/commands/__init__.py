"""Subcommands of the ``devsandbox`` command line, one module each."""
