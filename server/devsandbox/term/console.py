"""The interactive loop of ``devsandbox debug``: prompt, readline, program output, dispatch."""

from __future__ import annotations

import ast
import importlib
import logging
import os
import shutil
import threading
import time
from typing import IO, Any

from ..errors import DevsandboxError, InvalidRequest
from . import render
from .commands import TABLE, CommandTable
from .session import DebugSession, Ended, Outcome, Stop

logger = logging.getLogger(__name__)

PROMPT = "(dsb) "
HISTORY_LENGTH = 1000
CONTEXT_BEFORE, CONTEXT_AFTER = 2, 2
# modules that add entries to TABLE when imported (time travel commands go here)
COMMAND_MODULES: list[str] = ["devsandbox.term.timetravel"]


def history_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "devsandbox", "term_history")


class Terminal:
    """Writes to the user's terminal from two threads: the main one (command results) and
    the DAP reader (program output), keeping the prompt and the typed line intact."""

    def __init__(self, out: IO[str], style: render.Style, interactive: bool) -> None:
        self.out = out
        self.style = style
        self.interactive = interactive
        self._lock = threading.RLock()
        self._at_prompt = False
        # stdout and stderr come through separate pipes; so that they do not interleave
        # inside a line, the stream whose unfinished line is on screen owns the screen and
        # the other one's text waits in _pending until that line ends
        self._owner: str | None = None
        self._pending: dict[str, str] = {}
        # at the prompt, an unfinished line waits briefly for the rest of it (print() writes
        # its parts separately), so that the prompt is not redrawn in the middle of a line
        self._held: dict[str, str] = {}
        self._line_ended = threading.Condition(self._lock)
        self._release_timer: threading.Timer | None = None
        self._readline: Any = None

    def write(self, text: str) -> None:
        with self._lock:
            self._finish_lines()
            self.out.write(text + "\n")
            self.out.flush()

    def _finish_lines(self) -> None:
        """Show all held program output and end an unfinished line (before our own text)."""
        if self._pending:
            pending, self._pending = self._pending, {}
            for category, text in pending.items():
                self._emit(category, text if text.endswith("\n") else text + "\n")
        if self._owner is not None:
            self.out.write("\n")
            self._owner = None

    def _emit(self, category: str, text: str) -> None:
        if self._owner is not None and self._owner != category:
            self._pending[category] = self._pending.get(category, "") + text
            return
        self.out.write(text)
        self._owner = None if text.endswith("\n") else category
        if self._owner is None:
            self._line_ended.notify_all()
        if self._owner is None and self._pending:
            category, text = next(iter(self._pending.items()))
            del self._pending[category]
            self._emit(category, text)

    def program_output(self, category: str, text: str) -> None:
        if category == "telemetry" or not text:
            return
        if category in ("console", "important"):
            body = text.rstrip("\n")
            text = self.style(body, "yellow" if category == "important" else "dim") \
                + text[len(body):]
        with self._lock:
            if self._at_prompt:
                text = self._held.pop(category, "") + text
                if not text.endswith("\n"):
                    self._held[category] = text
                    self._release_soon()
                    return
                self._show_above_prompt(text)
            else:
                self._emit(category, text)
            self.out.flush()

    HOLD_SECONDS = 0.15

    def _release_soon(self) -> None:
        if self._release_timer is None:
            self._release_timer = threading.Timer(self.HOLD_SECONDS, self._release_held)
            self._release_timer.daemon = True
            self._release_timer.start()

    def _release_held(self) -> None:
        """Show what waited for the end of its line (called by the timer, or at the prompt's end)."""
        with self._lock:
            self._release_timer = None
            held, self._held = self._held, {}
            for category, text in held.items():
                if self._at_prompt:
                    self._show_above_prompt(text + "\n")
                else:
                    self._emit(category, text)
            self.out.flush()

    def _show_above_prompt(self, text: str) -> None:
        self.out.write("\r\x1b[K" if self.interactive else "\n")
        self.out.write(text)
        buffer = self._readline.get_line_buffer() if self._readline else ""
        self.out.write(PROMPT + buffer)

    def read_line(self) -> str | None:
        """One command line; None at end of input (Ctrl-D)."""
        with self._lock:
            # a program line still being written (print() writes its parts separately)
            # gets a moment to end before the prompt comes
            deadline = time.monotonic() + self.HOLD_SECONDS
            while self._owner is not None and time.monotonic() < deadline:
                self._line_ended.wait(deadline - time.monotonic())
            self._finish_lines()
            self.out.flush()
            self._at_prompt = True
        try:
            return input(PROMPT)
        except EOFError:
            self.write("")
            return None
        finally:
            with self._lock:
                self._at_prompt = False
                if self._held:
                    self._release_held()

    def setup_readline(self, words: list[str]) -> None:
        if not self.interactive:
            return
        try:
            import readline
        except ImportError:  # no readline on this platform: plain input()
            return
        self._readline = readline
        readline.set_history_length(HISTORY_LENGTH)
        try:
            readline.read_history_file(history_path())
        except (OSError, ValueError):
            pass

        def complete(text: str, state: int) -> str | None:
            if readline.get_begidx() != 0:
                return None
            matches = [w + " " for w in words if w.startswith(text)]
            return matches[state] if state < len(matches) else None

        readline.set_completer(complete)
        readline.set_completer_delims(" \t\n")
        readline.parse_and_bind("tab: complete")

    def save_history(self) -> None:
        if self._readline is None:
            return
        path = history_path()
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._readline.write_history_file(path)
        except OSError as exc:
            logger.warning("cannot save history to %s: %s", path, exc)


class Debugger:
    """What command handlers work with: the session, the terminal and the view state."""

    def __init__(self, session: DebugSession, terminal: Terminal,
                 table: CommandTable = TABLE) -> None:
        self.session = session
        self.terminal = terminal
        self.style = terminal.style
        self.table = table
        self.list_next: tuple[str | None, int] | None = None
        self.done = False
        self.quit_requested = False
        self._repeat: str | None = None

    # -- output helpers for commands --------------------------------------------------------

    def write(self, text: str) -> None:
        self.terminal.write(text)

    def notice(self, text: str) -> None:
        self.terminal.write(render.notice(text, self.style))

    def error(self, text: str) -> None:
        self.terminal.write(render.error(text, self.style))

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        for name in COMMAND_MODULES:
            importlib.import_module(name)
        self.terminal.setup_readline(self.table.words())
        try:
            self.show_outcome(self.session.start())
            while not self.done:
                line = self.read()
                if line is None:
                    self.quit()
                    break
                self.execute(line)
        finally:
            self.terminal.save_history()
        return self.exit_status()

    def read(self) -> str | None:
        while True:
            try:
                return self.terminal.read_line()
            except KeyboardInterrupt:
                self.write("")

    def execute(self, line: str) -> None:
        line = line.strip()
        if not line:
            if self._repeat is None:
                return
            line = self._repeat
        if line.startswith("!"):
            word, arg = "!", line[1:]
        else:
            word, _, arg = line.partition(" ")
        cmd = self.table.lookup(word)
        if cmd is None:
            self.error(f"unknown command {word!r}: `help` lists the commands, "
                       "`! STATEMENT` runs Python")
            return
        self._repeat = cmd.name if cmd.repeat else None
        if cmd.requires and not self.session.capabilities.get(cmd.requires):
            self.error(f"{cmd.name}: this DAP server does not support it ({cmd.requires})")
            return
        try:
            cmd.handler(self, arg.strip())
        except DevsandboxError as exc:
            self.error(str(exc))
        except KeyboardInterrupt:
            self.error("interrupted")

    def exit_status(self) -> int:
        ended = self.session.ended
        if self.quit_requested or ended is None:
            return 0
        code = ended.exit_code
        if code is None:
            return 1
        return 128 - code if code < 0 else code & 0xFF

    # -- what commands call -----------------------------------------------------------------

    def resume(self, command: str, arguments: dict[str, Any] | None = None) -> bool:
        """Let the program run with a DAP request; show where it stopped.  True if it stopped."""
        outcome = self.session.resume(command, arguments)
        self.show_outcome(outcome)
        return isinstance(outcome, Stop)

    def quit(self) -> None:
        if not self.session.ended:
            self.session.terminate()
        self.quit_requested = True
        self.done = True

    def move_frame(self, delta: int) -> None:
        session = self.session
        if not session.frames:
            session.load_frames()
        target = session.frame_index + delta
        if not 0 <= target < len(session.frames):
            raise InvalidRequest("already at the oldest frame" if delta > 0
                                 else "already at the newest frame")
        session.select_frame(target)
        self.show_frame()

    def show_outcome(self, outcome: Outcome) -> None:
        self.list_next = None
        if isinstance(outcome, Ended):
            self.done = True
            if outcome.server_gone:
                self.error("the DAP server exited unexpectedly")
            code = outcome.exit_code
            text = f"The program exited with code {code}." if code is not None \
                else "The program ended."
            self.write(self.style(text, "green" if code == 0 else "red"))
            return
        self.show_frame(self.stop_reason(outcome))

    def stop_reason(self, stop: Stop) -> str:
        if stop.reason in ("breakpoint", "function breakpoint"):
            numbers = [bp.number for i in stop.breakpoint_ids
                       if (bp := self.session.breakpoints.by_dap_id(i)) is not None]
            return "breakpoint " + ", ".join(map(str, numbers)) if numbers else "breakpoint"
        if stop.reason == "exception":
            return "exception: " + self.session.exception_text()
        return {"pause": "paused"}.get(stop.reason, stop.reason)

    def show_frame(self, reason: str | None = None) -> None:
        session = self.session
        frame = session.frame
        if reason is None:
            reason = f"frame #{session.frame_index}"
        self.write(render.stop_header(frame.location, reason, self.style))
        lines = session.source_lines(frame.path, frame.source)
        if lines and 0 < frame.line <= len(lines):
            self.write(render.around(lines, frame.line, before=CONTEXT_BEFORE, after=CONTEXT_AFTER,
                                     breakpoints=session.breakpoints.lines_in(frame.path),
                                     style=self.style))

    def show_return_value(self) -> None:
        try:
            rows = self.session.scope_variables("Locals")
        except DevsandboxError:
            return
        for name, value, _ in rows:
            if name.startswith("(return) "):
                self.write(f"{self.style(name[len('(return) '):] + '()', 'bold')} returned {value}")

    def pretty(self, expression: str) -> str:
        """pprint of an expression's value, in full; falls back to the plain value."""
        width = max(40, min(shutil.get_terminal_size().columns, 160))
        try:
            result, _ = self.session.evaluate(
                f"__import__('pprint').pformat((\n{expression}\n), width={width})", "watch")
            text = ast.literal_eval(result)
            if isinstance(text, str):
                return text
        except (DevsandboxError, ValueError, SyntaxError):
            pass
        return self.session.evaluate(expression, "watch")[0]
