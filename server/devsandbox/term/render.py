"""Text formatting for the terminal debugger: colour, source windows, stacks and variables.

Every function here returns a string; nothing writes to a stream.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO

_CODES = {
    "bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33",
    "blue": "34", "magenta": "35", "cyan": "36",
}


@dataclass(frozen=True)
class Style:
    """ANSI colour, or plain text when ``enabled`` is false."""

    enabled: bool = False

    def __call__(self, text: str, *names: str) -> str:
        if not self.enabled or not names or not text:
            return text
        codes = ";".join(_CODES[n] for n in names)
        return f"\x1b[{codes}m{text}\x1b[0m"


def colour_wanted(stream: IO[str], choice: str = "auto") -> bool:
    """``always``/``never``, or for ``auto``: a TTY and no ``NO_COLOR`` (https://no-color.org)."""
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def short_path(path: str | None, base: str | None = None) -> str:
    """``path`` relative to ``base`` (default: the current directory) when it lies below it."""
    if not path:
        return "<unknown>"
    base = base or os.getcwd()
    try:
        rel = os.path.relpath(path, base)
    except ValueError:
        return path
    return path if rel.startswith(os.pardir) else rel


@dataclass(frozen=True)
class Location:
    """What a stop or a frame points at."""

    path: str | None
    line: int
    function: str


def location(loc: Location, style: Style) -> str:
    where = style(f"{short_path(loc.path)}:{loc.line}", "cyan")
    return f"{where} in {style(loc.function, 'bold')}"


def stop_header(loc: Location, reason: str, style: Style) -> str:
    colour = "red" if reason.startswith("exception") else "yellow"
    return f"{style('>', 'bold')} {location(loc, style)}  {style('(' + reason + ')', colour)}"


def source_window(lines: Sequence[str], first: int, last: int, *, current: int | None,
                  breakpoints: Iterable[int] = (), style: Style) -> str:
    """Lines ``first``..``last`` (1-based, inclusive), with line numbers, ``->`` at the current
    line and ``B`` at breakpoint lines."""
    first = max(1, first)
    last = min(len(lines), last)
    bps = set(breakpoints)
    width = max(3, len(str(last)))
    out = []
    for number in range(first, last + 1):
        text = lines[number - 1].rstrip("\r\n").expandtabs(4)
        mark = ("B" if number in bps else " ") + ("->" if number == current else "  ")
        row = f"{mark} {number:>{width}}  {text}"
        if number == current:
            out.append(style(row, "bold"))
        else:
            num = style(f"{number:>{width}}", "dim")
            bmark = style(mark, "red") if number in bps else mark
            out.append(f"{bmark} {num}  {text}")
    return "\n".join(out)


def around(lines: Sequence[str], line: int, *, before: int, after: int,
           breakpoints: Iterable[int] = (), style: Style) -> str:
    return source_window(lines, line - before, line + after, current=line,
                         breakpoints=breakpoints, style=style)


def stack_entry(index: int, loc: Location, text: str | None, *, selected: bool,
                style: Style) -> str:
    marker = style(">", "bold") if selected else " "
    head = f"{marker} #{index:<2} {location(loc, style)}"
    if text:
        head += "\n        " + style(text.strip(), "dim")
    return head


def variables(rows: Iterable[tuple[str, str, str]], style: Style) -> str:
    """``name = value  (type)`` lines; rows are (name, value, type)."""
    out = []
    for name, value, type_ in rows:
        suffix = f"  {style('(' + type_ + ')', 'dim')}" if type_ else ""
        out.append(f"{style(name, 'bold')} = {value}{suffix}")
    return "\n".join(out) if out else style("(none)", "dim")


def error(message: str, style: Style) -> str:
    return style(f"*** {message}", "red")


def notice(message: str, style: Style) -> str:
    return style(message, "dim")
