"""What ``devsandbox debug`` runs (the launch configuration) and the source files it shows."""

from __future__ import annotations

import os
import tokenize
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Target:
    """What to debug, from the command line."""

    program: str | None = None
    module: str | None = None
    args: list[str] = field(default_factory=list)
    cwd: str = "."
    python: str | None = None
    stop_on_entry: bool = True
    just_my_code: bool = True
    devsandbox: dict[str, Any] = field(default_factory=dict)

    def launch_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "name": "devsandbox debug", "type": "devsandbox", "request": "launch",
            "console": "internalConsole", "cwd": os.path.abspath(self.cwd), "args": self.args,
            "stopOnEntry": self.stop_on_entry, "justMyCode": self.just_my_code,
            "showReturnValue": True, "env": {"PYTHONUNBUFFERED": "1"},
            # child processes would need sessions of their own (startDebugging): not debugged
            "subProcess": False,
        }
        if self.module:
            config["module"] = self.module
        else:
            config["program"] = os.path.abspath(self.program or "")
        if self.python:
            config["python"] = [self.python]
        if self.devsandbox:
            config["devsandbox"] = dict(self.devsandbox)
        return config


class SourceFiles:
    """Source files read from disk by lines, re-read when they change."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, list[str]]] = {}

    def lines(self, path: str) -> list[str] | None:
        try:
            mtime = os.path.getmtime(path)
        except OSError:
            return None
        cached = self._cache.get(path)
        if cached is None or cached[0] != mtime:
            try:
                with tokenize.open(path) as f:  # honours the coding cookie
                    cached = (mtime, f.read().splitlines())
            except (OSError, SyntaxError, UnicodeDecodeError):
                return None
            self._cache[path] = cached
        return cached[1]
