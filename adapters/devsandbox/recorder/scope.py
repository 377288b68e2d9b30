"""Which code the recorder records: by default the program's own code.

Like debugpy's justMyCode: the standard library, site-packages, frozen and
generated code (``<string>``) and DevSandbox itself are left out.  Include
globs (matched against the absolute path and the path relative to the
working directory) replace that default; exclude globs and function globs
(matched against ``co_qualname``) narrow it.  The decision is made once per
code object.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from types import CodeType


def _library_roots() -> tuple[str, ...]:
    roots = set()
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(name)
        if path:
            roots.add(os.path.realpath(path))
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        roots.add(os.path.realpath(os.path.join(prefix, "lib")))
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # adapters/devsandbox
    roots.add(here)
    roots.add(os.path.join(os.path.dirname(os.path.dirname(here)), "server", "devsandbox"))
    return tuple(sorted(r + os.sep for r in roots))


class Scope:
    def __init__(self, include: list[str] | tuple[str, ...] = (),
                 exclude: list[str] | tuple[str, ...] = (),
                 functions: list[str] | tuple[str, ...] = ()) -> None:
        self.include = list(include)
        self.exclude = list(exclude)
        self.functions = list(functions)
        self._roots = _library_roots()
        self._cwd = os.getcwd()
        self._files: dict[str, bool] = {}

    def describe(self) -> dict[str, list[str]]:
        return {"include": self.include, "exclude": self.exclude, "functions": self.functions}

    def __call__(self, code: CodeType) -> bool:
        if self.functions:
            import fnmatch  # only with globs: it imports re

            if not any(fnmatch.fnmatchcase(code.co_qualname, g) for g in self.functions):
                return False
        return self.file_in_scope(code.co_filename)

    def file_in_scope(self, filename: str) -> bool:
        known = self._files.get(filename)
        if known is None:
            known = self._files[filename] = self._decide(filename)
        return known

    def _matches(self, path: str, globs: list[str]) -> bool:
        import fnmatch

        rel = os.path.relpath(path, self._cwd) if os.path.isabs(path) else path
        return any(fnmatch.fnmatch(path, g) or fnmatch.fnmatch(rel, g) for g in globs)

    def _decide(self, filename: str) -> bool:
        synthetic = not filename or filename.startswith("<")
        path = filename if synthetic else os.path.abspath(filename)
        if self.exclude and self._matches(path, self.exclude):
            return False
        if self.include:
            return self._matches(path, self.include)
        if synthetic:
            return False
        real = os.path.realpath(path)
        parts = real.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            return False
        return not any(real.startswith(root) or path.startswith(root) for root in self._roots)
