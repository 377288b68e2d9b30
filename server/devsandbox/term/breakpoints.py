"""Breakpoint specs (``FILE:LINE[:CONDITION]``, ``[FILE:]LINE [, CONDITION]``, ``FUNCTION``)
and the numbered breakpoint table the terminal debugger keeps.

DAP's ``setBreakpoints`` replaces every breakpoint of one source file, and
``setFunctionBreakpoints`` every function breakpoint, so the table answers
"what is the whole list for this file now" and takes back what the server said.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest

_CLI_SPEC = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<cond>.*))?$")
_LOCATION = re.compile(r"^(?:(?P<file>.+):)?(?P<line>\d+)$")
_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*$")


@dataclass(frozen=True)
class Spec:
    """A parsed breakpoint request; ``file`` is as typed (resolved later), None = current file."""

    file: str | None = None
    line: int | None = None
    function: str | None = None
    condition: str | None = None


def parse_cli(text: str) -> Spec:
    """``FILE:LINE[:CONDITION]``, as given to ``devsandbox debug -b``."""
    match = _CLI_SPEC.match(text.strip())
    if not match:
        raise InvalidRequest(f"bad breakpoint {text!r}: expected FILE:LINE[:CONDITION]")
    return Spec(match["file"], _line(match["line"]), condition=(match["cond"] or "").strip() or None)


def parse_command(text: str) -> Spec:
    """pdb's ``break`` argument: ``[FILE:]LINE [, CONDITION]`` or ``FUNCTION [, CONDITION]``."""
    where, _, condition = text.partition(",")
    where = where.strip()
    cond = condition.strip() or None
    match = _LOCATION.match(where)
    if match:
        return Spec(match["file"], _line(match["line"]), condition=cond)
    if _FUNCTION.match(where):
        return Spec(function=where, condition=cond)
    raise InvalidRequest(f"bad breakpoint {text!r}: expected [FILE:]LINE [, CONDITION] or FUNCTION")


def parse_location(text: str) -> tuple[str | None, int]:
    """``[FILE:]LINE`` (for ``clear`` and ``list``)."""
    match = _LOCATION.match(text.strip())
    if not match:
        raise InvalidRequest(f"bad location {text!r}: expected [FILE:]LINE")
    return match["file"], _line(match["line"])


def _line(text: str) -> int:
    line = int(text)
    if line < 1:
        raise InvalidRequest(f"bad line number {line}: lines start at 1")
    return line


@dataclass
class Breakpoint:
    number: int
    path: str | None          # None for a function breakpoint
    line: int | None
    function: str | None = None
    condition: str | None = None
    verified: bool = False
    message: str | None = None  # why the server did not verify it
    dap_id: int | None = None

    def describe(self, short_path: str | None = None) -> str:
        where = self.function + "()" if self.function else f"{short_path or self.path}:{self.line}"
        text = f"{self.number}: {where}"
        if self.condition:
            text += f" if {self.condition}"
        if not self.verified:
            text += "  (pending" + (f": {self.message})" if self.message else ")")
        return text

    def to_dap(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.function} if self.function else {"line": self.line}
        if self.condition:
            body["condition"] = self.condition
        return body


class BreakpointTable:
    def __init__(self) -> None:
        self._items: dict[int, Breakpoint] = {}
        self._next = 1

    def __iter__(self) -> Iterator[Breakpoint]:
        return iter(sorted(self._items.values(), key=lambda b: b.number))

    def __len__(self) -> int:
        return len(self._items)

    def add(self, path: str | None, line: int | None, *, function: str | None = None,
            condition: str | None = None) -> Breakpoint:
        for old in self._items.values():  # same place again: update the condition
            if (old.path, old.line, old.function) == (path, line, function):
                old.condition = condition
                return old
        bp = Breakpoint(self._next, path, line, function, condition)
        self._items[bp.number] = bp
        self._next += 1
        return bp

    def get(self, number: int) -> Breakpoint:
        try:
            return self._items[number]
        except KeyError:
            raise InvalidRequest(f"no breakpoint number {number}") from None

    def remove(self, bp: Breakpoint) -> None:
        self._items.pop(bp.number, None)

    def at(self, path: str, line: int) -> list[Breakpoint]:
        return [b for b in self._items.values() if b.path == path and b.line == line]

    def in_file(self, path: str) -> list[Breakpoint]:
        return [b for b in self if b.path == path]

    def functions(self) -> list[Breakpoint]:
        return [b for b in self if b.function]

    def lines_in(self, path: str | None) -> set[int]:
        return {b.line for b in self._items.values() if b.path == path and b.line}

    def by_dap_id(self, dap_id: int) -> Breakpoint | None:
        for bp in self._items.values():
            if bp.dap_id == dap_id:
                return bp
        return None

    @staticmethod
    def accept(sent: list[Breakpoint], answer: list[dict[str, Any]]) -> None:
        """Record the server's answer to setBreakpoints/setFunctionBreakpoints (same order)."""
        for bp, result in zip(sent, answer):
            bp.verified = bool(result.get("verified"))
            bp.message = result.get("message")
            bp.dap_id = result.get("id")
            if result.get("line") and bp.path:
                bp.line = int(result["line"])
