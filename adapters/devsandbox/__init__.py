"""DevSandbox: explore a Python program's past and present from your editor.

This package is split over two source roots: ``adapters/devsandbox`` (what runs
inside the user's program; standard library, lz4 and our C extension only) and
``server/devsandbox`` (the DAP and LSP server).  This file belongs to the first
and must stay light: the user's program imports it.

In a program::

    import devsandbox
    devsandbox.listen(5678)      # debugpy + the DevSandbox agent; attach from the editor
"""

from __future__ import annotations

import os as _os
import sys as _sys


def _join_other_roots(path: list[str]) -> list[str]:
    """Add every other ``devsandbox`` directory on sys.path (pkgutil.extend_path, lighter)."""
    for entry in _sys.path:
        candidate = _os.path.join(entry or ".", __name__)
        if candidate not in path and _os.path.isdir(candidate):
            path.append(candidate)
    return path


__path__ = _join_other_roots(list(__path__))  # the server/ root joins when both are on sys.path

__version__ = "0.1.0"


def listen(port: int = 5678, host: str = "127.0.0.1", **options: object) -> tuple[str, int]:
    """Start debugpy and the DevSandbox agent in this process; see devsandbox.embedded.listen."""
    from .embedded import listen as _listen

    return _listen(port, host=host, **options)


def recording(**options: object):  # type: ignore[no-untyped-def]
    """Record the code run in a ``with devsandbox.recording(): ...`` block
    (options: see devsandbox.recorder)."""
    from .recorder import recording as _recording

    return _recording(**options)


def wait_for_client() -> None:
    """Block until a debugger client is attached (like debugpy.wait_for_client)."""
    from .embedded import wait_for_client as _wait

    _wait()
