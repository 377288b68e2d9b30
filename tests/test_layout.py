"""Guards for the package layout and the rules that keep the two processes apart.

- ``devsandbox`` is one namespace package over exactly two roots, ``server/`` and
  ``adapters/``; only ``adapters/devsandbox/__init__.py`` exists (pkgutil-style).
- Code under ``adapters/devsandbox/`` runs inside the user's program: it imports
  the standard library, lz4, our C extension and its own modules (relatively), and
  debugpy only in ``embedded.py`` inside a function.  Checked statically (ast) and
  by importing every module in an isolated interpreter that can see nothing else.
- The server imports nothing from ``devsandbox.agent`` but ``devsandbox.agent.wire``.
- stdout belongs to the protocol: server modules never ``print()``; the command
  modules that are interactive clients may, and the stdio servers' commands print
  only to an explicit file (stderr).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "server"
ADAPTERS = REPO / "adapters"
SERVER_PKG = SERVER / "devsandbox"
ADAPTERS_PKG = ADAPTERS / "devsandbox"

# Third-party top-level modules allowed on the adapters side, and where.
ADAPTER_THIRD_PARTY = {"lz4": None}  # None: anywhere
ADAPTER_LAZY_ONLY = {"debugpy": {"embedded.py"}}  # module -> files where a lazy import is allowed
# Top-level bootstrap modules that are put on sys.path on their own (not inside the
# package), so they cannot import relatively: they may import devsandbox.<adapters module>.
ADAPTER_BOOTSTRAP_DIRS = {"_site"}

# Server modules that are interactive clients (they own the terminal) may print, and so may the
# demo (its sample program is the debuggee, whose output is the point).  The commands that serve
# a protocol over stdio may print only to an explicit file.
PRINT_ALLOWED_DIRS = {"commands", "term", "demo"}
PRINT_ALLOWED_FILES = {"cli.py", "__main__.py", "demo.py"}
STDIO_SERVER_COMMANDS = {"commands/dap.py", "commands/lsp.py"}


@dataclass
class Found:
    path: Path
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}: {self.what}"


def py_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve_relative(path: Path, root: Path, node: ast.ImportFrom) -> str:
    """The absolute module a relative ``from ... import`` refers to."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package.pop()
    if node.level - 1 > len(package):
        return "<beyond the top>"
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def exists_under(root: Path, module: str) -> bool:
    base = root.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file() \
        or any(base.parent.glob(base.name + ".*.so")) or (base.is_dir() and module.count(".") >= 1)


def is_lazy(tree: ast.Module, target: ast.AST) -> bool:
    """True if ``target`` sits inside a function (so it runs only when called)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if any(child is target for child in ast.walk(node)):
                return True
    return False


def imports(tree: ast.Module):
    """(node, absolute-or-None module names) for every import statement and import call."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield node, [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            yield node, None
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and node.args \
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                yield node, [node.args[0].value]


# -- the namespace package -------------------------------------------------------------------


def test_namespace_has_exactly_the_two_roots() -> None:
    # In a clean interpreter of the dev install (not pytest's sys.path), from elsewhere.
    out = subprocess.run(
        [sys.executable, "-c", "import devsandbox, json; print(json.dumps(list(devsandbox.__path__)))"],
        cwd="/", env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True, text=True, timeout=60, check=True,
    )
    roots = sorted(Path(p).resolve() for p in json.loads(out.stdout))
    assert roots == sorted([SERVER_PKG.resolve(), ADAPTERS_PKG.resolve()])


def test_only_the_adapters_root_has_an_init() -> None:
    assert not (SERVER_PKG / "__init__.py").exists()
    init = (ADAPTERS_PKG / "__init__.py").read_text()
    assert "extend_path" in init


def test_python_m_devsandbox_runs_the_server_cli() -> None:
    out = subprocess.run([sys.executable, "-m", "devsandbox", "--version"], cwd="/",
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.startswith("devsandbox ")


# -- the adapters side imports --------------------------------------------------------------


def adapter_import_violations() -> list[Found]:
    bad: list[Found] = []
    stdlib = set(sys.stdlib_module_names)
    for path in py_files(ADAPTERS_PKG):
        rel_parts = path.relative_to(ADAPTERS_PKG).parts
        bootstrap = bool(set(rel_parts[:-1]) & ADAPTER_BOOTSTRAP_DIRS)
        tree = ast.parse(path.read_text(), str(path))
        for node, names in imports(tree):
            if names is None:  # from X import ...
                assert isinstance(node, ast.ImportFrom)
                if node.level:
                    target = resolve_relative(path, ADAPTERS, node)
                    if not target.startswith("devsandbox") or not exists_under(ADAPTERS, target):
                        # a relative import that reaches a server module (or nothing)
                        bad.append(Found(path, node.lineno, f"relative import of {target}, "
                                         "which does not exist under adapters/"))
                        continue
                    for alias in node.names:
                        full = f"{target}.{alias.name}"
                        if exists_under(SERVER, full) and not exists_under(ADAPTERS, full):
                            bad.append(Found(path, node.lineno, f"relative import of {full}, "
                                             "a server module"))
                    continue
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top == "__future__":
                    continue
                if top == "devsandbox":
                    if bootstrap and exists_under(ADAPTERS, name):
                        continue
                    bad.append(Found(path, node.lineno, f"absolute import of {name} "
                                     "(use a relative import)"))
                elif top in ADAPTER_THIRD_PARTY:
                    continue
                elif top in ADAPTER_LAZY_ONLY:
                    if path.name not in ADAPTER_LAZY_ONLY[top]:
                        bad.append(Found(path, node.lineno, f"imports {name} (allowed only in "
                                         f"{sorted(ADAPTER_LAZY_ONLY[top])})"))
                    elif not is_lazy(tree, node):
                        bad.append(Found(path, node.lineno, f"imports {name} at module level "
                                         "(import it inside the function that needs it)"))
                else:
                    bad.append(Found(path, node.lineno, f"imports {name}, which is neither the "
                                     "standard library nor lz4"))
    return bad


def test_adapters_import_only_stdlib_lz4_and_relative_modules() -> None:
    bad = adapter_import_violations()
    assert not bad, "\n".join(map(str, bad))


ISOLATED_IMPORT = textwrap.dedent("""
    import importlib, json, pkgutil, sys
    sys.path.insert(0, sys.argv[1])
    import devsandbox, devsandbox.agent, devsandbox.agent.wire
    seen = []
    for info in pkgutil.walk_packages(devsandbox.__path__, "devsandbox."):
        if info.name.rsplit(".", 1)[-1] in ("__main__",):
            continue  # running it would start the program
        importlib.import_module(info.name)
        seen.append(info.name)
    third_party = sorted({m.split(".")[0] for m in sys.modules}
                         - set(sys.stdlib_module_names) - {"devsandbox", "lz4", "__main__"})
    print(json.dumps({"path": list(devsandbox.__path__), "modules": seen,
                      "third_party": third_party}))
""")


def test_agent_imports_in_an_interpreter_that_sees_only_the_agent(tmp_path: Path) -> None:
    """As in the user's program: no site-packages, only our package (and lz4) on sys.path."""
    path_dir = tmp_path / "path"
    path_dir.mkdir()
    (path_dir / "devsandbox").symlink_to(ADAPTERS_PKG, target_is_directory=True)
    try:
        import lz4

        (path_dir / "lz4").symlink_to(Path(lz4.__file__).parent, target_is_directory=True)
    except ImportError:
        pass
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", ISOLATED_IMPORT, str(path_dir)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["path"] == [str(path_dir / "devsandbox")]  # the server root is out of reach
    assert "devsandbox.agent.wire" in result["modules"]
    assert not [m for m in result["modules"] if m.startswith(("devsandbox.dap", "devsandbox.lsp"))]
    assert result["third_party"] == []


# -- the server side ------------------------------------------------------------------------


def test_server_imports_only_wire_from_the_agent() -> None:
    bad: list[Found] = []
    for path in py_files(SERVER_PKG):
        tree = ast.parse(path.read_text(), str(path))
        for node, names in imports(tree):
            if names is None:
                assert isinstance(node, ast.ImportFrom)
                module = resolve_relative(path, SERVER, node) if node.level else (node.module or "")
                if module == "devsandbox.agent":
                    names = [f"devsandbox.agent.{alias.name}" for alias in node.names]
                else:
                    names = [module]
            for name in names:
                if (name == "devsandbox.agent" or name.startswith("devsandbox.agent.")) \
                        and name != "devsandbox.agent.wire":
                    bad.append(Found(path, node.lineno, f"imports {name} (only "
                                     "devsandbox.agent.wire is shared with the agent)"))
    assert not bad, "\n".join(map(str, bad))


def print_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), str(path))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name) and node.func.id == "print"]


def prints_to_a_file(call: ast.Call) -> bool:
    for kw in call.keywords:
        if kw.arg == "file":
            return not (isinstance(kw.value, ast.Attribute) and kw.value.attr == "stdout")
    return False


def test_server_modules_never_print() -> None:
    bad: list[Found] = []
    for path in py_files(SERVER_PKG):
        rel = path.relative_to(SERVER_PKG)
        client = rel.parts[0] in PRINT_ALLOWED_DIRS or str(rel) in PRINT_ALLOWED_FILES
        for call in print_calls(path):
            if str(rel) in STDIO_SERVER_COMMANDS:
                if not prints_to_a_file(call):
                    bad.append(Found(path, call.lineno, "print() to stdout in a stdio server's "
                                     "command (stdout carries the protocol): pass file=sys.stderr"))
            elif not client:
                bad.append(Found(path, call.lineno, "print() in a server module (use logging)"))
    assert not bad, "\n".join(map(str, bad))


def test_the_agent_never_prints_to_the_programs_stdout() -> None:
    bad = [Found(path, call.lineno, "print() to stdout inside the user's program")
           for path in py_files(ADAPTERS_PKG) for call in print_calls(path)
           if not prints_to_a_file(call)]
    assert not bad, "\n".join(map(str, bad))


# -- the checks themselves -------------------------------------------------------------------


@pytest.mark.parametrize("source, expected", [
    ("import os\nfrom . import wire\n", []),
    ("import pygls\n", ["pygls"]),
    ("import debugpy\n", ["debugpy"]),
    ("from devsandbox.dap import session\n", ["devsandbox.dap"]),
    ("from ..dap import session\n", ["devsandbox.dap"]),
    ("from .. import dap\n", ["devsandbox.dap"]),
    ("import importlib\nimportlib.import_module('jsonrpc_base')\n", ["jsonrpc_base"]),
])
def test_the_adapter_import_check_catches_violations(
    source: str, expected: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_adapters = tmp_path / "adapters"
    (fake_adapters / "devsandbox" / "agent").mkdir(parents=True)
    (fake_adapters / "devsandbox" / "__init__.py").write_text("")
    (fake_adapters / "devsandbox" / "agent" / "__init__.py").write_text("")
    (fake_adapters / "devsandbox" / "agent" / "wire.py").write_text("")
    (fake_adapters / "devsandbox" / "agent" / "mod.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "ADAPTERS", fake_adapters)
    monkeypatch.setattr(sys.modules[__name__], "ADAPTERS_PKG", fake_adapters / "devsandbox")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    found = adapter_import_violations()
    assert len(found) == len(expected), found
    for finding, name in zip(found, expected):
        assert name in finding.what


def test_test_modules_have_unique_names() -> None:
    """pytest imports test modules of package-less folders by basename: a clash stops the run."""
    seen: dict[str, Path] = {}
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        if "node_modules" in path.parts or (path.parent / "__init__.py").exists():
            continue
        assert path.name not in seen, f"{path} and {seen[path.name]} share a name"
        seen[path.name] = path
