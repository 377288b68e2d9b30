"""Breakpoint specs and the breakpoint table of `devsandbox debug` (pure functions)."""

from __future__ import annotations

import pytest

from devsandbox.errors import InvalidRequest
from devsandbox.term.breakpoints import BreakpointTable, Spec, parse_cli, parse_command


@pytest.mark.parametrize("text, spec", [
    ("a.py:12", Spec("a.py", 12)),
    ("dir/a.py:3:x > 2", Spec("dir/a.py", 3, condition="x > 2")),
    ("a.py:3:d['k'] == s[1:2]", Spec("a.py", 3, condition="d['k'] == s[1:2]")),
    ("C:/src/a.py:7", Spec("C:/src/a.py", 7)),
])
def test_cli_spec(text, spec):
    assert parse_cli(text) == spec


@pytest.mark.parametrize("text", ["a.py", "a.py:", "a.py:x", ":3", "a.py:0"])
def test_bad_cli_spec(text):
    with pytest.raises(InvalidRequest):
        parse_cli(text)


@pytest.mark.parametrize("text, spec", [
    ("12", Spec(None, 12)),
    ("12, i == 3", Spec(None, 12, condition="i == 3")),
    ("pkg/m.py:40", Spec("pkg/m.py", 40)),
    ("pkg/m.py:40 , f(a, b)", Spec("pkg/m.py", 40, condition="f(a, b)")),
    ("square", Spec(function="square")),
    ("Acc.add, n > 1", Spec(function="Acc.add", condition="n > 1")),
])
def test_command_spec(text, spec):
    assert parse_command(text) == spec


@pytest.mark.parametrize("text", ["a.py:x", "1 2", "-3", "a b"])
def test_bad_command_spec(text):
    with pytest.raises(InvalidRequest):
        parse_command(text)


def test_table_numbers_and_server_answers():
    table = BreakpointTable()
    one = table.add("/p/a.py", 3)
    two = table.add("/p/a.py", 9, condition="x")
    three = table.add(None, None, function="f")
    assert [b.number for b in table] == [1, 2, 3]
    assert table.add("/p/a.py", 9, condition="y") is two and two.condition == "y"
    assert [b.to_dap() for b in table.in_file("/p/a.py")] == [
        {"line": 3}, {"line": 9, "condition": "y"}]
    BreakpointTable.accept(table.in_file("/p/a.py"), [
        {"verified": True, "id": 10, "line": 4}, {"verified": False, "id": 11, "message": "no"}])
    assert (one.line, one.verified, table.by_dap_id(10)) == (4, True, one)
    assert two.describe("a.py") == "2: a.py:9 if y  (pending: no)"
    assert three.describe() == "3: f()  (pending)"
    table.remove(one)
    assert table.lines_in("/p/a.py") == {9}
    with pytest.raises(InvalidRequest):
        table.get(1)
