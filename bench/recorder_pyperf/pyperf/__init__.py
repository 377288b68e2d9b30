"""A stand-in for pyperf, for running pyperformance's benchmark scripts as plain programs.

``Runner.bench_func`` and ``bench_time_func`` run the benchmark a fixed
number of times (``DEVSANDBOX_BENCH_LOOPS``, default 1) once, with no
calibration, no worker processes and no statistics: what is measured is the
whole process, from the outside (bench/recorder.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Callable

perf_counter = time.perf_counter

__version__ = "0-devsandbox-standin"


def _loops() -> int:
    return max(1, int(os.environ.get("DEVSANDBOX_BENCH_LOOPS", "1")))


class Runner:
    def __init__(self, *args: Any, add_cmdline_args: Callable[..., Any] | None = None,
                 **kwargs: Any) -> None:
        self.metadata: dict[str, Any] = {}
        self.argparser = argparse.ArgumentParser()
        self.args: argparse.Namespace | None = None

    def parse_args(self, args: list[str] | None = None) -> argparse.Namespace:
        if self.args is None:
            self.args = self.argparser.parse_args(sys.argv[1:] if args is None else args)
        return self.args

    def bench_func(self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.parse_args()
        for _ in range(_loops()):
            func(*args)

    def bench_time_func(self, name: str, func: Callable[..., Any], *args: Any,
                        **kwargs: Any) -> None:
        self.parse_args()
        func(_loops(), *args)

    def bench_command(self, name: str, command: list[str]) -> None:
        raise NotImplementedError("the stand-in pyperf runs functions only")

    def bench_async_func(self, name: str, func: Callable[..., Any], *args: Any,
                         **kwargs: Any) -> None:
        import asyncio

        self.parse_args()
        for _ in range(_loops()):
            asyncio.run(func(*args))
