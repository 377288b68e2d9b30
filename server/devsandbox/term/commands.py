"""The terminal debugger's command table.

A command is one ``Command`` entry: its name, aliases, a handler ``(debugger, arg) -> None``,
a usage line and help text (the handler's docstring).  Register one with the
``TABLE.command`` decorator, from this module or any other module listed in
``console.COMMAND_MODULES``::

    @TABLE.command("back", usage="back", repeat=True, requires="supportsStepBack")
    def back(dbg: Debugger, arg: str) -> None:
        \"\"\"Step backwards one line (time travel).\"\"\"
        dbg.resume("stepBack")

``requires="supportsStepBack"`` makes the console refuse the command, with a clear message,
when the DAP server does not announce that capability.

Handlers raise ``DevsandboxError`` subclasses (``InvalidRequest`` ...) for errors the user
should see; the console prints them and shows the prompt again.  ``repeat=True`` makes an
empty line run the command again (without its argument), as pdb does for stepping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InvalidRequest
from . import render
from .breakpoints import parse_command, parse_location

if TYPE_CHECKING:
    from .console import Debugger

Handler = Callable[["Debugger", str], None]


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    handler: Handler
    usage: str
    help: str
    repeat: bool = False
    requires: str | None = None  # a DAP capability the server must announce, e.g. supportsStepBack

    @property
    def summary(self) -> str:
        return self.help.strip().splitlines()[0] if self.help.strip() else ""


class CommandTable:
    def __init__(self) -> None:
        self._commands: list[Command] = []
        self._by_word: dict[str, Command] = {}

    def add(self, command: Command) -> Command:
        for word in (command.name, *command.aliases):
            if word in self._by_word:
                raise ValueError(f"command word {word!r} is already taken "
                                 f"by {self._by_word[word].name!r}")
        for word in (command.name, *command.aliases):
            self._by_word[word] = command
        self._commands.append(command)
        return command

    def command(self, name: str, *aliases: str, usage: str = "", repeat: bool = False,
                requires: str | None = None) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(Command(name, aliases, handler, usage or name,
                             _dedent(handler.__doc__ or ""), repeat, requires))
            return handler
        return register

    def lookup(self, word: str) -> Command | None:
        return self._by_word.get(word)

    def words(self) -> list[str]:
        return sorted(self._by_word)

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands)


def _dedent(doc: str) -> str:
    lines = doc.strip().splitlines()
    return "\n".join(line.strip() for line in lines)


TABLE = CommandTable()
LIST_SIZE = 11


def _need_int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidRequest(f"{what} must be a number, not {text!r}") from None


# -- running --------------------------------------------------------------------------------

@TABLE.command("continue", "c", "cont", repeat=True)
def do_continue(dbg: Debugger, arg: str) -> None:
    """Continue until a breakpoint, an exception or the end.  Ctrl-C pauses the program."""
    dbg.resume("continue")


@TABLE.command("next", "n", repeat=True)
def do_next(dbg: Debugger, arg: str) -> None:
    """Run the current line, stepping over calls."""
    dbg.resume("next")


@TABLE.command("step", "s", repeat=True)
def do_step(dbg: Debugger, arg: str) -> None:
    """Run the current line, stepping into a call."""
    dbg.resume("stepIn")


@TABLE.command("finish", "return", "r", repeat=True)
def do_finish(dbg: Debugger, arg: str) -> None:
    """Run until the current function returns (step out); show the value it returned."""
    if dbg.resume("stepOut") and dbg.session.stop and dbg.session.stop.reason == "step":
        dbg.show_return_value()


@TABLE.command("pause")
def do_pause(dbg: Debugger, arg: str) -> None:
    """Pause the running program (Ctrl-C does the same while it runs)."""
    dbg.notice("the program is already paused; Ctrl-C pauses it while it runs")


@TABLE.command("quit", "q", "exit")
def do_quit(dbg: Debugger, arg: str) -> None:
    """Terminate the program and leave the debugger."""
    dbg.quit()


# -- breakpoints ----------------------------------------------------------------------------

@TABLE.command("break", "b", usage="break [FILE:]LINE [, CONDITION] | FUNCTION [, CONDITION]")
def do_break(dbg: Debugger, arg: str) -> None:
    """Set a breakpoint; without an argument, list the breakpoints.
    LINE alone means the current file.  With a CONDITION the program stops only where
    the Python expression is true, e.g. `b 12, i == 3`."""
    if not arg:
        if not len(dbg.session.breakpoints):
            dbg.notice("no breakpoints")
        for bp in dbg.session.breakpoints:
            dbg.write(bp.describe(render.short_path(bp.path)))
        return
    bp = dbg.session.add_breakpoint(parse_command(arg))
    dbg.write("Breakpoint " + bp.describe(render.short_path(bp.path)))


@TABLE.command("clear", "cl", usage="clear [NUMBER ... | [FILE:]LINE]")
def do_clear(dbg: Debugger, arg: str) -> None:
    """Delete breakpoints by number or location; without an argument, delete them all."""
    table = dbg.session.breakpoints
    if not arg:
        doomed = list(table)
    elif all(word.isdigit() for word in arg.split()):
        doomed = [table.get(int(word)) for word in arg.split()]
    else:
        file, line = parse_location(arg)
        doomed = table.at(dbg.session.resolve_file(file), line)
        if not doomed:
            raise InvalidRequest(f"no breakpoint at {arg}")
    for bp in doomed:
        dbg.session.remove_breakpoint(bp)
        dbg.write(f"Deleted breakpoint {bp.describe(render.short_path(bp.path))}")


@TABLE.command("condition", usage="condition NUMBER [CONDITION]")
def do_condition(dbg: Debugger, arg: str) -> None:
    """Set a breakpoint's condition, or remove it when none is given."""
    number, _, condition = arg.partition(" ")
    bp = dbg.session.breakpoints.get(_need_int(number, "breakpoint number"))
    dbg.session.remove_breakpoint(bp)
    new = dbg.session.add_breakpoint(parse_command(
        (bp.function or f"{bp.path}:{bp.line}") + (f", {condition}" if condition.strip() else "")))
    dbg.write("Breakpoint " + new.describe(render.short_path(new.path)))


# -- looking around -------------------------------------------------------------------------

@TABLE.command("where", "bt", "w", "backtrace")
def do_where(dbg: Debugger, arg: str) -> None:
    """Show the call stack, newest frame first; `>` marks the selected frame."""
    session = dbg.session
    frames = session.load_frames()
    for index, frame in enumerate(frames):
        lines = session.source_lines(frame.path, frame.source)
        text = lines[frame.line - 1] if lines and 0 < frame.line <= len(lines) else None
        dbg.write(render.stack_entry(index, frame.location, text,
                                     selected=index == session.frame_index, style=dbg.style))


@TABLE.command("up", "u", usage="up [COUNT]")
def do_up(dbg: Debugger, arg: str) -> None:
    """Select an older frame (the caller)."""
    dbg.move_frame(_need_int(arg or "1", "COUNT"))


@TABLE.command("down", "d", usage="down [COUNT]")
def do_down(dbg: Debugger, arg: str) -> None:
    """Select a newer frame (the callee)."""
    dbg.move_frame(-_need_int(arg or "1", "COUNT"))


@TABLE.command("frame", "f", usage="frame [NUMBER]")
def do_frame(dbg: Debugger, arg: str) -> None:
    """Select frame NUMBER (as `where` numbers them), or show the selected one."""
    if arg:
        dbg.session.select_frame(_need_int(arg, "frame number"))
    dbg.show_frame()


@TABLE.command("list", "l", usage="list [[FILE:]LINE | FIRST, LAST | .]", repeat=True)
def do_list(dbg: Debugger, arg: str) -> None:
    """List source: around the current line, then onwards on each repeat.
    `list 30` centres on line 30, `list 10, 20` shows a range, `list .` goes back to the current line."""
    session = dbg.session
    frame = session.frame
    path, current = frame.path, frame.line
    if arg == ".":
        dbg.list_next = None
        arg = ""
    if "," in arg:
        first_text, last_text = (part.strip() for part in arg.split(",", 1))
        first, last = _need_int(first_text, "FIRST"), _need_int(last_text, "LAST")
    elif arg:
        file, line = parse_location(arg)
        if file is not None:
            path = session.resolve_file(file)
        first, last = max(1, line - LIST_SIZE // 2), max(1, line - LIST_SIZE // 2) + LIST_SIZE - 1
    elif dbg.list_next is not None and dbg.list_next[0] == path:
        first = dbg.list_next[1]
        last = first + LIST_SIZE - 1
    else:
        first = max(1, current - LIST_SIZE // 2)
        last = first + LIST_SIZE - 1
    lines = session.source_lines(path, frame.source if path == frame.path else None)
    if lines is None:
        raise InvalidRequest(f"no source for {render.short_path(path)}")
    if first > len(lines):
        raise InvalidRequest(f"line {first} is past the end of {render.short_path(path)} "
                             f"({len(lines)} lines)")
    dbg.write(render.source_window(lines, first, last,
                                   current=current if path == frame.path else None,
                                   breakpoints=session.breakpoints.lines_in(path),
                                   style=dbg.style))
    dbg.list_next = (path, min(last, len(lines)) + 1)


@TABLE.command("print", "p", usage="print EXPRESSION")
def do_print(dbg: Debugger, arg: str) -> None:
    """Evaluate an expression in the selected frame and print its value."""
    if not arg:
        raise InvalidRequest("usage: print EXPRESSION")
    result, _ = dbg.session.evaluate(arg, "watch")
    dbg.write(result)


@TABLE.command("pp", usage="pp EXPRESSION")
def do_pp(dbg: Debugger, arg: str) -> None:
    """Pretty-print an expression's value (pprint, in full)."""
    if not arg:
        raise InvalidRequest("usage: pp EXPRESSION")
    dbg.write(dbg.pretty(arg))


@TABLE.command("locals")
def do_locals(dbg: Debugger, arg: str) -> None:
    """Show the local variables of the selected frame."""
    dbg.write(render.variables(dbg.session.scope_variables("Locals"), dbg.style))


@TABLE.command("globals")
def do_globals(dbg: Debugger, arg: str) -> None:
    """Show the global variables of the selected frame's module."""
    rows = [r for r in dbg.session.scope_variables("Globals") if not r[0].startswith("__")]
    dbg.write(render.variables(rows, dbg.style))


@TABLE.command("eval", "!", usage="eval STATEMENT  (or !STATEMENT)")
def do_eval(dbg: Debugger, arg: str) -> None:
    """Run a Python statement or expression in the selected frame, e.g. `!x = 3`."""
    if not arg:
        raise InvalidRequest("usage: eval STATEMENT")
    result, _ = dbg.session.evaluate(arg, "repl")
    if result:
        dbg.write(result)


# -- threads --------------------------------------------------------------------------------

@TABLE.command("threads")
def do_threads(dbg: Debugger, arg: str) -> None:
    """List the program's threads; `>` marks the selected one."""
    for tid, name in dbg.session.threads():
        mark = dbg.style(">", "bold") if tid == dbg.session.thread_id else " "
        dbg.write(f"{mark} {tid:>3}  {name}")


@TABLE.command("thread", usage="thread NUMBER")
def do_thread(dbg: Debugger, arg: str) -> None:
    """Select a thread by the number `threads` shows."""
    if not arg:
        raise InvalidRequest("usage: thread NUMBER (see `threads`)")
    dbg.session.select_thread(_need_int(arg, "thread number"))
    dbg.show_frame()


# -- help -----------------------------------------------------------------------------------

@TABLE.command("help", "h", "?", usage="help [COMMAND]")
def do_help(dbg: Debugger, arg: str) -> None:
    """Show the commands, or one command's help."""
    if arg:
        cmd = dbg.table.lookup(arg)
        if cmd is None:
            raise InvalidRequest(f"no command {arg!r}")
        names = ", ".join((cmd.name, *cmd.aliases))
        dbg.write(f"{dbg.style(cmd.usage, 'bold')}   ({names})\n{cmd.help}")
        return
    for cmd in dbg.table:
        names = ", ".join((cmd.name, *cmd.aliases))
        dbg.write(f"  {dbg.style(names.ljust(24), 'bold')} {cmd.summary}")
    dbg.write("An empty line repeats the last stepping command.  `help COMMAND` for details.")
