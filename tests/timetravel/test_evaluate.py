"""The evaluator over recorded values: what it computes, what it refuses, and its bounds."""

from __future__ import annotations

import pytest

from devsandbox.recording import evaluate as ev

RECORDED = {"n": ("3", False), "items": ("[1, 2, 3]", False), "d": ("{'a': 1}", False),
            "p": ("Point(x=1, y=[2, 3])", False), "b": ("<app.Box object at 0x7f00>", False),
            "s": ("'hello'", False), "long": ("'aaaa'…996 more chars", True)}


def lookup(name: str):
    text, cut = RECORDED[name]
    return ev.from_repr(text, cut, name)


def run(expression: str) -> str:
    return ev.show(ev.evaluate(expression, lookup))


@pytest.mark.parametrize("expression,result", [
    ("n * 2 + 1", "7"), ("items[1:]", "[2, 3]"), ("d['a']", "1"), ("len(items) == n", "True"),
    ("p.x", "1"), ("p.y[-1]", "3"), ("sorted(items, reverse=True)", "[3, 2, 1]"),
    ("{k: v * 2 for k, v in d.items()}", "{'a': 2}"), ("s.upper()", "'HELLO'"),
    ("f'{n:03d}'", "'003'"), ("n if n > 2 else -n", "3"), ("b", "<app.Box object at 0x7f00>"),
    ("sum(x for x in items if x % 2)", "4"), ("long", "'aaaa'…996 more chars"),
])
def test_values(expression: str, result: str) -> None:
    assert run(expression) == result


@pytest.mark.parametrize("expression,words", [
    ("b.v", "attribute 'v' was not recorded"), ("items.append(4)", "read-only"),
    ("open('/etc/passwd')", "not defined"), ("n.__class__", "cannot be read"),
    ("2 ** 100000", "too large"), ("'x' * 10 ** 9", "too long"), ("range(10 ** 9)", "too long"),
    ("long.upper()", "truncated"), ("lambda: 1", "cannot be evaluated"), ("x = 1", "syntax"),
    ("missing", "not defined"), ("items[10]", "IndexError"),
    ("[y for y in range(100000) for z in range(100000)]", "too expensive"),
])
def test_refusals(expression: str, words: str) -> None:
    with pytest.raises(ev.EvalError, match=words):
        run(expression)
