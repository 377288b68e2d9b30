"""What the source says: the expression under the cursor, the functions of a file, the
names on each line.  Pure functions over text (tokenize and ast); no pygls."""

from __future__ import annotations

import ast
import io
import keyword
import tokenize
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Expression:
    text: str  # "name" or "a.b.c"
    line: int  # 0-based
    start: int  # columns of the whole expression, 0-based, end exclusive
    end: int

    @property
    def is_name(self) -> bool:
        return "." not in self.text


@dataclass(frozen=True)
class Function:
    name: str
    qualname: str
    line: int  # 1-based line of the ``def``
    first_line: int  # 1-based co_firstlineno (the first decorator, if any)
    end_line: int  # 1-based, inclusive
    name_col: int  # 0-based column of the name on ``line``


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    out: list[tokenize.TokenInfo] = []
    try:
        out.extend(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # keep what was read: the file is being edited
    return out


def expression_at(line_text: str, line: int, character: int) -> Expression | None:
    """The name or attribute path the cursor is on: on ``b`` in ``a.b.c`` that is ``a.b``.
    Nothing for keywords, strings, comments, numbers, or attributes of calls and subscripts."""
    toks = [t for t in _tokens(line_text) if t.type not in (tokenize.NL, tokenize.NEWLINE,
                                                            tokenize.INDENT, tokenize.DEDENT,
                                                            tokenize.ENDMARKER)]
    at = None
    for i, tok in enumerate(toks):
        if tok.type == tokenize.NAME and tok.start[1] <= character <= tok.end[1]:
            at = i
            if character < tok.end[1]:
                break
    if at is None or keyword.iskeyword(toks[at].string) or keyword.issoftkeyword(toks[at].string):
        return None
    first = at
    while first >= 2 and toks[first - 1].string == "." and toks[first - 2].type == tokenize.NAME \
            and not keyword.iskeyword(toks[first - 2].string):
        first -= 2
    if first >= 1 and toks[first - 1].string == ".":
        return None  # an attribute of something that is not a name: a call, a subscript...
    parts = [toks[k].string for k in range(first, at + 1, 2)]
    return Expression(".".join(parts), line, toks[first].start[1], toks[at].end[1])


@lru_cache(maxsize=32)
def functions(text: str) -> tuple[Function, ...]:
    """Every function and method, with the qualname CPython gives its code object."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return ()
    found: list[Function] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qual = f"{prefix}{child.name}"
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                found.append(Function(child.name, qual, child.lineno, first,
                                      child.end_lineno or child.lineno,
                                      _name_col(text, child)))
                visit(child, f"{qual}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return tuple(sorted(found, key=lambda f: f.line))


def _name_col(text: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    lines = text.splitlines()
    if node.lineno - 1 < len(lines):
        col = lines[node.lineno - 1].find(node.name, node.col_offset)
        if col >= 0:
            return col
    return node.col_offset


def function_at(text: str, line: int) -> Function | None:
    """The innermost function whose body holds ``line`` (1-based)."""
    best = None
    for fn in functions(text):
        if fn.line <= line <= fn.end_line and (best is None or fn.line >= best.line):
            best = fn
    return best


@lru_cache(maxsize=32)
def names_by_line(text: str) -> dict[int, tuple[tuple[str, int, int], ...]]:
    """0-based line -> (name, start column, end column) of each plain name read or
    written on it (not attributes after a dot, not keywords), first occurrence only."""
    out: dict[int, list[tuple[str, int, int]]] = {}
    seen: set[tuple[int, str]] = set()
    previous = None
    for tok in _tokens(text):
        if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string) and not (
                previous is not None and previous.string == "."):
            line = tok.start[0] - 1
            if (line, tok.string) not in seen:
                seen.add((line, tok.string))
                out.setdefault(line, []).append((tok.string, tok.start[1], tok.end[1]))
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            previous = tok
    return {k: tuple(v) for k, v in out.items()}


def local_names(text: str, function: Function | None) -> frozenset[str]:
    """Names local to ``function`` (parameters and assignments, less ``global`` ones);
    empty at module level."""
    if function is None:
        return frozenset()
    return _local_names(text, function.line, function.name)


@lru_cache(maxsize=256)
def _local_names(text: str, line: int, name: str) -> frozenset[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return frozenset()
    node = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.lineno == line and n.name == name), None)
    if node is None:
        return frozenset()
    args = node.args
    found = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    found |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared: set[str] = set()
    todo: list[ast.AST] = list(node.body)
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(n.name)
            continue  # its body is another scope
        if isinstance(n, ast.Lambda):
            continue
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            declared.update(n.names)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            found.add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in n.names)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            found.add(n.name)
        todo.extend(ast.iter_child_nodes(n))
    return frozenset(found - declared)
