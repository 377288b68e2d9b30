"""The AST security scanner and the safety levels.

**A guard-rail, not a sandbox.**  The scanner reads the code's syntax tree and
flags calls and patterns that are usually a mistake to run inside a live
program: starting processes, deleting files, opening sockets, loading pickles,
evaluating strings, walking to interpreter internals.  Code can hide what it
does from any static check (computed names, data fetched at run time, the
program's own helpers), and anyone holding the session's token can run
anything at the ``permissive`` level.  The audit hook (``audit.py``) records
what injected code actually did.

Each finding has a rule, a message, a line and column and a severity; the risk
score is the sum of the severities' scores, at most 100.  Levels:

- ``strict``: anything with a finding is refused;
- ``normal`` (default): code with a high or critical finding is refused unless
  the request says ``force: true``;
- ``permissive``: nothing is refused; findings come back as warnings.

Names are followed through imports (``import subprocess as sp; sp.run()``,
``from os import system as s; s()``); ``getattr(x, "__globals__")`` counts as
the attribute itself.
"""

from __future__ import annotations

import ast
from dataclasses import asdict, dataclass
from typing import Any

from ..rpc import RpcError
from .clients import ERR_INVALID, ERR_REFUSED, LEVELS, client_name, level_of

SCORES = {"low": 5, "medium": 15, "high": 40, "critical": 70}
ORDER = ("low", "medium", "high", "critical")

# dotted call names -> (severity, rule, message); a name ending in "." matches a whole module
CALLS: dict[str, tuple[str, str, str]] = {}


def _calls(severity: str, rule: str, message: str, *names: str) -> None:
    for name in names:
        CALLS[name] = (severity, rule, message)


_calls("critical", "process", "starts or replaces a process", "os.system", "os.popen",
       "os.execl", "os.execle", "os.execlp", "os.execlpe", "os.execv", "os.execve", "os.execvp",
       "os.execvpe", "os.spawnl", "os.spawnle", "os.spawnlp", "os.spawnlpe", "os.spawnv",
       "os.spawnve", "os.spawnvp", "os.spawnvpe", "os.posix_spawn", "os.posix_spawnp",
       "os.fork", "os.forkpty", "pty.spawn", "pty.fork", "subprocess.", "asyncio.create_subprocess_exec",
       "asyncio.create_subprocess_shell", "commands.getoutput")
_calls("critical", "terminate", "ends or signals the program", "os._exit", "os.abort", "os.kill",
       "os.killpg", "signal.pthread_kill")
_calls("critical", "delete-tree", "deletes a directory tree", "shutil.rmtree")
_calls("critical", "ctypes", "calls native code through ctypes (can crash the program)",
       "ctypes.", "_ctypes.")
_calls("high", "terminate", "ends the program (SystemExit)", "sys.exit", "exit", "quit")
_calls("high", "dynamic-code", "evaluates a string as code", "eval", "exec", "compile",
       "builtins.eval", "builtins.exec", "builtins.compile", "code.interact",
       "code.InteractiveConsole", "runpy.run_path", "runpy.run_module")
_calls("high", "dynamic-import", "imports a module chosen at run time", "__import__",
       "importlib.import_module", "importlib.__import__", "importlib.reload")
_calls("high", "deserialize", "loads data that can run code (pickle, marshal, shelve)",
       "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads",
       "cPickle.load", "cPickle.loads", "marshal.load", "marshal.loads", "shelve.open",
       "dill.load", "dill.loads", "yaml.load", "yaml.unsafe_load", "jsonpickle.decode")
_calls("high", "network", "opens a network connection", "socket.", "_socket.",
       "urllib.request.urlopen", "urllib.request.urlretrieve", "urllib.urlopen",
       "http.client.HTTPConnection", "http.client.HTTPSConnection", "requests.", "httpx.",
       "aiohttp.", "ftplib.", "smtplib.", "telnetlib.", "poplib.", "imaplib.",
       "asyncio.open_connection", "asyncio.start_server", "socketserver.")
_calls("high", "file-delete", "deletes, moves or changes the permissions of files", "os.remove",
       "os.unlink", "os.rmdir", "os.removedirs", "os.rename", "os.renames", "os.replace",
       "os.truncate", "os.chmod", "os.chown", "shutil.move", "shutil.copy", "shutil.copy2",
       "shutil.copyfile", "shutil.copytree", "shutil.chown")
_calls("medium", "introspection", "reaches into frames or every object of the program",
       "sys._getframe", "inspect.currentframe", "inspect.stack", "gc.get_objects",
       "gc.get_referrers", "gc.get_referents", "sys.settrace", "sys.setprofile",
       "threading.settrace", "sys.addaudithook", "sys.setrecursionlimit", "sys.setswitchinterval")
_calls("medium", "signals", "changes signal handling", "signal.signal", "signal.alarm",
       "signal.setitimer")
_calls("medium", "blocking", "waits for input or a debugger", "input", "breakpoint",
       "pdb.set_trace")
_calls("medium", "processes", "starts processes or threads pools of processes",
       "multiprocessing.", "concurrent.futures.ProcessPoolExecutor")
_calls("low", "scope", "reads a whole namespace", "globals", "vars", "locals")

# methods flagged whatever the object (no type information): Path and file-like writers
METHODS = {
    "write_text": ("high", "file-write", "writes a file"),
    "write_bytes": ("high", "file-write", "writes a file"),
    "unlink": ("high", "file-delete", "deletes a file"),
    "rmdir": ("high", "file-delete", "deletes a directory"),
    "rmtree": ("critical", "delete-tree", "deletes a directory tree"),
    "touch": ("medium", "file-write", "creates a file"),
    "system": ("critical", "process", "runs a shell command"),
    "popen": ("critical", "process", "runs a shell command"),
}

# attributes that lead to interpreter internals
ATTRIBUTES = {
    "__subclasses__": ("critical", "internals", "walks to every class of the interpreter"),
    "__globals__": ("critical", "internals", "reaches a function's module globals"),
    "__builtins__": ("critical", "internals", "reaches the builtins"),
    "__code__": ("high", "internals", "reads or replaces code objects"),
    "__closure__": ("high", "internals", "reaches a function's closure cells"),
    "__bases__": ("high", "internals", "walks the class hierarchy"),
    "__base__": ("high", "internals", "walks the class hierarchy"),
    "__mro__": ("high", "internals", "walks the class hierarchy"),
    "__getattribute__": ("medium", "internals", "calls attribute lookup directly"),
    "f_globals": ("high", "internals", "reaches a frame's globals"),
    "f_locals": ("medium", "internals", "reaches a frame's locals"),
    "f_back": ("medium", "internals", "walks the call stack"),
    "gi_frame": ("medium", "internals", "reaches a generator's frame"),
    "cr_frame": ("medium", "internals", "reaches a coroutine's frame"),
    "tb_frame": ("medium", "internals", "reaches a traceback's frame"),
    "__dict__": ("low", "internals", "reads an object's namespace directly"),
}

BLOCKED_MODULES = {
    "subprocess": "critical", "ctypes": "critical", "_ctypes": "critical", "pty": "critical",
    "socket": "high", "_socket": "high", "pickle": "high", "_pickle": "high", "cPickle": "high",
    "marshal": "high", "shelve": "high", "dill": "high", "multiprocessing": "medium",
    "urllib.request": "high", "http.client": "high", "ftplib": "high", "smtplib": "high",
    "telnetlib": "high", "requests": "high", "httpx": "high", "socketserver": "high",
    "code": "medium", "pdb": "medium",
}

_WRITE_MODES = set("wax+")


@dataclass
class Finding:
    rule: str
    severity: str
    message: str
    line: int
    column: int
    code: str


def scan(source: str, filename: str = "<injected>") -> dict[str, Any]:
    """``{"findings": [...], "risk": 0..100}``, or ``{"syntaxError": {...}}``."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        return {"findings": [], "risk": 0, "syntaxError": {
            "message": exc.msg, "file": filename, "line": exc.lineno, "column": exc.offset}}
    visitor = _Visitor(source)
    visitor.visit(tree)
    findings = sorted(visitor.findings, key=lambda f: (f.line, f.column))
    risk = min(100, sum(SCORES[f.severity] for f in findings))
    return {"findings": [asdict(f) for f in findings], "risk": risk}


def decide(report: dict[str, Any], level: str, force: bool = False) -> dict[str, Any]:
    """Would ``level`` run code with this report?  ``{"allowed", "level", "reason"}``."""
    findings = report.get("findings") or []
    worst = max((ORDER.index(f["severity"]) for f in findings), default=-1)
    allowed, reason = True, ""
    if level == "strict" and findings:
        allowed, reason = False, "the strict level refuses code with any finding"
    elif level == "normal" and worst >= ORDER.index("high") and not force:
        allowed = False
        reason = "high-risk code is refused at the normal level unless the request says force"
    return {"allowed": allowed, "level": level, "reason": reason, "forced": bool(force)}


def guard(source: str, params: dict[str, Any], what: str) -> dict[str, Any]:
    """Scan ``source`` and apply the client's level: the scan report (with the decision) if the
    code may run, else RpcError(ERR_REFUSED) naming the findings.  Refusals are audited."""
    report = scan(source)
    if "syntaxError" in report:
        return report  # compiling reports it with the line; nothing runs
    level = level_of(params)
    report.update(decide(report, level, params.get("force") is True))
    if not report["allowed"]:
        from . import audit

        audit.write({"action": "refused", "client": client_name(params), "what": what,
                     "level": level, "risk": report["risk"], "findings": report["findings"]})
        raise RpcError(ERR_REFUSED, f"refused by the {level} safety level (risk "
                       f"{report['risk']}): {summary(report)}; {report['reason']}")
    return report


def summary(report: dict[str, Any], limit: int = 5) -> str:
    findings = report.get("findings") or []
    parts = [f"line {f['line']}: {f['code']} {f['message']} ({f['severity']})"
             for f in findings[:limit]]
    if len(findings) > limit:
        parts.append(f"{len(findings) - limit} more")
    return "; ".join(parts) or "no findings"


def scan_request(params: dict[str, Any]) -> dict[str, Any]:
    source = params.get("code")
    if not isinstance(source, str):
        raise RpcError(ERR_INVALID, "'code' must be a string")
    level = params.get("level") or level_of(params)
    if level not in LEVELS:
        raise RpcError(ERR_INVALID, f"the safety level must be one of {', '.join(LEVELS)}")
    report = scan(source)
    report.update(decide(report, level, params.get("force") is True))
    return report


class _Visitor(ast.NodeVisitor):
    def __init__(self, source: str) -> None:
        self.source = source
        self.findings: list[Finding] = []
        self.aliases: dict[str, str] = {}

    def add(self, node: ast.AST, severity: str, rule: str, message: str, code: str) -> None:
        self.findings.append(Finding(rule, severity, message, getattr(node, "lineno", 0),
                                     getattr(node, "col_offset", 0) + 1, code))

    # imports: remember aliases, flag blocked modules
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._blocked(node, alias.name)
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._blocked(node, module)
        for alias in node.names:
            full = f"{module}.{alias.name}" if module else alias.name
            self._blocked(node, full)
            if alias.name != "*":
                self.aliases[alias.asname or alias.name] = full
                if full in CALLS:
                    pass  # flagged when called

    def _blocked(self, node: ast.AST, module: str) -> None:
        for name, severity in BLOCKED_MODULES.items():
            if module == name or module.startswith(name + "."):
                self.add(node, severity, "blocked-import", f"imports the blocked module {name}",
                         f"import {module}")
                return

    def dotted(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def visit_Call(self, node: ast.Call) -> None:
        name = self.dotted(node.func)
        if name is not None:
            self._call(node, name)
        if isinstance(node.func, ast.Attribute) and node.func.attr in METHODS and (
                name is None or _match(name) is None):
            severity, rule, message = METHODS[node.func.attr]
            self.add(node, severity, rule, message, f".{node.func.attr}()")
        self.generic_visit(node)

    def _call(self, node: ast.Call, name: str) -> None:
        hit = _match(name)
        if hit is not None:
            severity, rule, message = hit
            self.add(node, severity, rule, message, f"{name}()")
        if name in ("open", "io.open", "builtins.open", "os.open", "codecs.open"):
            self._open(node, name)
        if name in ("getattr", "setattr", "delattr", "hasattr"):
            self._getattr(node, name)
        if name in ("setattr", "delattr") and node.args:
            target = self.dotted(node.args[0])
            if target in ("builtins", "sys", "os"):
                self.add(node, "high", "patch-runtime", f"changes the {target} module",
                         f"{name}({target}, …)")

    def _open(self, node: ast.Call, name: str) -> None:
        if name == "os.open":
            self.add(node, "medium", "file-open", "opens a file descriptor", "os.open()")
            return
        mode_node = node.args[1] if len(node.args) > 1 else next(
            (k.value for k in node.keywords if k.arg == "mode"), None)
        if mode_node is None:
            self.add(node, "low", "file-read", "reads a file", "open()")
        elif isinstance(mode_node, ast.Constant) and isinstance(mode_node.value, str):
            if _WRITE_MODES & set(mode_node.value):
                self.add(node, "high", "file-write", "opens a file for writing",
                         f"open(…, {mode_node.value!r})")
            else:
                self.add(node, "low", "file-read", "reads a file", "open()")
        else:
            self.add(node, "medium", "file-open", "opens a file in a mode chosen at run time",
                     "open(…, mode)")

    def _getattr(self, node: ast.Call, name: str) -> None:
        if len(node.args) < 2:
            return
        attr = node.args[1]
        if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
            if attr.value in ATTRIBUTES:
                severity, rule, message = ATTRIBUTES[attr.value]
                self.add(node, severity, rule, message, f"{name}(…, {attr.value!r})")
        else:
            self.add(node, "medium", "computed-attribute",
                     "looks up an attribute whose name is computed at run time", f"{name}(…)")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ATTRIBUTES:
            severity, rule, message = ATTRIBUTES[node.attr]
            self.add(node, severity, rule, message, f".{node.attr}")
        if isinstance(node.ctx, ast.Store):
            base = self.dotted(node.value)
            if base in ("builtins", "sys", "os"):
                self.add(node, "high", "patch-runtime", f"changes the {base} module",
                         f"{base}.{node.attr} = …")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            severity, rule, message = ATTRIBUTES["__builtins__"]
            self.add(node, severity, rule, message, "__builtins__")

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            base = self.dotted(node.value)
            if base == "sys.modules":
                self.add(node, "high", "patch-runtime", "replaces or removes a loaded module",
                         "sys.modules[…] = …")
            elif base == "os.environ":
                self.add(node, "medium", "environment", "changes the environment",
                         "os.environ[…] = …")
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        test = node.test
        if isinstance(test, ast.Constant) and bool(test.value) and not _breaks(node):
            self.add(node, "medium", "endless-loop",
                     "loops for ever (the timeout will stop it)", "while True")
        self.generic_visit(node)


def _match(name: str) -> tuple[str, str, str] | None:
    hit = CALLS.get(name)
    if hit is not None:
        return hit
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        hit = CALLS.get(".".join(parts[:i]) + ".")
        if hit is not None:
            return hit
    return None


def _breaks(loop: ast.While) -> bool:
    """Does the loop body contain a break (or return/raise) that belongs to this loop?"""
    stack: list[ast.AST] = list(loop.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Break, ast.Return, ast.Raise)):
            return True
        if isinstance(node, (ast.While, ast.For, ast.AsyncFor, ast.FunctionDef,
                             ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            if isinstance(node, (ast.While, ast.For, ast.AsyncFor)):
                stack.extend(n for n in ast.walk(node) if isinstance(n, (ast.Return, ast.Raise)))
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def callable_findings(fn: Any, label: str) -> list[dict[str, Any]]:
    """Findings for calling ``fn`` itself: a dangerous callable under any name."""
    import builtins
    import sys

    inner = getattr(fn, "__func__", fn)
    module = getattr(inner, "__module__", None)
    for name, (severity, rule, message) in CALLS.items():
        hit = False
        if name.endswith("."):
            prefix = name[:-1]
            hit = isinstance(module, str) and (module == prefix or module.startswith(name))
        else:
            owner_name, _, attr = name.rpartition(".")
            owner = sys.modules.get(owner_name) if owner_name else builtins
            candidate = getattr(owner, "__dict__", {}).get(attr) if owner is not None else None
            hit = candidate is not None and candidate is inner
        if hit:
            return [asdict(Finding(rule, severity, message, 0, 0, f"{label} is {name.rstrip('.')}"))]
    return []


def guard_callable(fn: Any, label: str, params: dict[str, Any], what: str) -> dict[str, Any]:
    """Like ``guard`` for a call of ``fn`` reached through the path ``label``."""
    findings = callable_findings(fn, label)
    report: dict[str, Any] = {"findings": findings,
                              "risk": min(100, sum(SCORES[f["severity"]] for f in findings))}
    level = level_of(params)
    report.update(decide(report, level, params.get("force") is True))
    if not report["allowed"]:
        from . import audit

        audit.write({"action": "refused", "client": client_name(params), "what": what,
                     "target": label, "level": level, "risk": report["risk"],
                     "findings": report["findings"]})
        raise RpcError(ERR_REFUSED, f"refused by the {level} safety level (risk "
                       f"{report['risk']}): {summary(report)}; {report['reason']}")
    return report
