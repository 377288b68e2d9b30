"""Helpers for DAP tests."""

from __future__ import annotations

import sys


def launch_config(program: str, **extra) -> dict:
    config = {"program": program, "console": "internalConsole", "justMyCode": True,
              "python": sys.executable}
    config.update(extra)
    return config
