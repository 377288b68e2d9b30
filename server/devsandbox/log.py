"""Logging: to a file or stderr, never stdout (stdout carries protocol frames)."""

from __future__ import annotations

import logging
import os
import sys

WIRE = logging.getLogger("devsandbox.wire")


def setup(log_file: str | None = None, level: str | None = None) -> None:
    level = (level or os.environ.get("DEVSANDBOX_LOG_LEVEL") or "WARNING").upper()
    log_file = log_file or os.environ.get("DEVSANDBOX_LOG")
    handler: logging.Handler
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s: %(message)s")
    )
    root = logging.getLogger("devsandbox")
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level, logging.WARNING))
    root.propagate = False
