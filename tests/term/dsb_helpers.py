"""Helpers for the `devsandbox debug` tests: a pexpect-driven session and sample markers."""

from __future__ import annotations

import re
from pathlib import Path

import pexpect

SAMPLES = Path(__file__).parent / "samples"
PROMPT = "(dsb) "
TIMEOUT = 60  # generous: two cores shared by many test processes
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def line_of(sample: str, marker: str) -> int:
    """The line carrying ``# @marker`` in a sample program."""
    for number, text in enumerate((SAMPLES / sample).read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# @{marker}"):
            return number
    raise LookupError(f"no @{marker} in {sample}")


class Dsb:
    """One `devsandbox debug` run in a pty."""

    def __init__(self, child: pexpect.spawn, home: Path) -> None:
        self.child = child
        self.home = home
        self.transcript: list[str] = []

    def expect_prompt(self) -> str:
        self.child.expect_exact(PROMPT)
        text = ANSI.sub("", self.child.before).replace("\r\n", "\n")
        self.transcript.append(text)
        return text

    def cmd(self, line: str) -> str:
        """Send a command; return what was printed up to the next prompt (echo included)."""
        self.child.sendline(line)
        return self.expect_prompt()

    def finish(self, line: str = "c") -> tuple[str, int]:
        """Send a command after which the debugger exits; return the rest and its exit status."""
        self.child.sendline(line)
        self.child.expect(pexpect.EOF)
        text = ANSI.sub("", self.child.before).replace("\r\n", "\n")
        self.transcript.append(text)
        self.child.close()
        assert self.child.exitstatus is not None, f"killed by signal {self.child.signalstatus}"
        return text, self.child.exitstatus
