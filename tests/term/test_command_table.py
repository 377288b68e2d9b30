"""The command table of `devsandbox debug`: pdb names and aliases, and adding commands."""

from __future__ import annotations

import pytest

from devsandbox.term.commands import TABLE, Command, CommandTable

PDB_WORDS = {
    "break": ["b"], "clear": ["cl"], "continue": ["c"], "next": ["n"], "step": ["s"],
    "finish": ["return", "r"], "where": ["bt", "w"], "up": ["u"], "down": ["d"],
    "print": ["p"], "pp": [], "locals": [], "list": ["l"], "threads": [], "thread": [],
    "pause": [], "eval": ["!"], "quit": ["q"], "help": ["h"],
}


@pytest.mark.parametrize("name", sorted(PDB_WORDS))
def test_builtin_commands_and_aliases(name):
    cmd = TABLE.lookup(name)
    assert cmd is not None and cmd.name == name
    for alias in PDB_WORDS[name]:
        assert TABLE.lookup(alias) is cmd
    assert cmd.summary, f"{name} has no help text"


def test_stepping_commands_repeat_on_empty_line():
    repeating = {c.name for c in TABLE if c.repeat}
    assert {"continue", "next", "step", "finish", "list"} <= repeating
    assert not repeating & {"print", "break", "quit", "eval"}


def test_adding_a_command_is_one_entry():
    table = CommandTable()
    calls = []

    @table.command("back", "bk", usage="back", repeat=True, requires="supportsStepBack")
    def back(dbg, arg):
        """Step backwards one line.

        More text."""
        calls.append(arg)

    cmd = table.lookup("bk")
    assert cmd == table.lookup("back")
    assert (cmd.summary, cmd.repeat, cmd.requires) == ("Step backwards one line.", True,
                                                       "supportsStepBack")
    cmd.handler(None, "x")
    assert calls == ["x"]
    assert table.words() == ["back", "bk"]
    with pytest.raises(ValueError, match="already taken"):
        table.add(Command("bk2", ("bk",), back, "bk2", "clash"))
    assert table.lookup("bk2") is None
