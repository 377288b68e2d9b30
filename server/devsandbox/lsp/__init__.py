"""``devsandbox lsp``: the program's state shown in the source (hover, inline values, code
lenses, diagnostics), read from the workspace's live debug sessions and recordings.

``server.py`` wires pygls; ``features/`` has one module per LSP feature; the
modules beside them (``sessions``, ``recordings``, ``context``, ``source``) know
nothing about pygls and are what the features build on.
"""
