"""Program output that arrives while the prompt is shown."""

from __future__ import annotations

import io
import threading
import time

from devsandbox.term import render
from devsandbox.term.console import PROMPT, Terminal


def terminal() -> tuple[Terminal, io.StringIO]:
    out = io.StringIO()
    term = Terminal(out, render.Style(False), interactive=False)
    term._at_prompt = True  # as while input() waits for a command
    return term, out


def test_a_line_written_in_parts_is_shown_whole_above_the_prompt():
    term, out = terminal()
    term.program_output("stdout", "from")
    time.sleep(0.02)
    term.program_output("stdout", " eval\n")
    assert "from eval\n" + PROMPT in out.getvalue()


def test_an_unfinished_line_is_shown_after_a_moment():
    term, out = terminal()
    term.program_output("stdout", "progress: 50%")
    deadline = time.monotonic() + 2
    while "progress: 50%" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "progress: 50%\n" + PROMPT in out.getvalue()


def test_a_line_being_written_when_the_prompt_comes_ends_first(monkeypatch):
    out = io.StringIO()
    term = Terminal(out, render.Style(False), interactive=False)
    term.program_output("stdout", "from")
    threading.Timer(0.03, term.program_output, args=("stdout", " eval\n")).start()
    monkeypatch.setattr("builtins.input", lambda prompt: (out.write(prompt), "q")[1])
    assert term.read_line() == "q"
    assert "from eval\n" + PROMPT in out.getvalue()
