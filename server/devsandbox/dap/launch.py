"""Launch and attach configurations: validation and the rewrite that brings our agent in.

A configuration accepts what debugpy's accepts (program, module, code, args, cwd,
env, envFile, console, justMyCode, subProcess, pathMappings, python, ...) plus a
``devsandbox`` section of our own.  Unknown keys pass through to debugpy.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any

from devsandbox.recorder.format import CHUNK_KB_MAX, CHUNK_KB_MIN

from ..errors import InvalidRequest

# keys of the "devsandbox" section and their types
OPTION_TYPES: dict[str, type | tuple[type, ...]] = {
    "agent": bool,  # start our agent in the debuggee (default true)
    "record": (bool, dict),  # record the run for time travel (a dict: recorder options)
    "token": str,  # token of an embedded agent (devsandbox.listen)
    "serverToken": str,  # token of a DevSandbox DAP server listening on TCP
    "agentHost": str,
    "agentPort": int,
    "include": list,
    "exclude": list,
    "replay": str,
    "hotReload": (bool, dict),  # live: reload saved files in place (dap/live.py)
    "safety": str,  # live: strict, normal (default) or permissive (agent/live/scanner.py)
    "auditDir": str,  # live: where the audit log goes (default .devsandbox/audit)
    # the recorder's (adapters/devsandbox/recorder/control.py maps them to its options)
    "functions": list,
    "recordingPath": str,
    "maxDepth": int, "maxItems": int, "maxStr": int, "maxValueSize": int, "maxRepr": int,
    "reprBudgetMs": (int, float),
    "flightRecorderMb": (int, float),
    "recorderBackend": str,
    "recordChildren": bool, "itemDiffs": bool, "recordGlobals": bool,
    "recordAttributes": bool, "reprTemplates": bool,
    "chunkKb": int,
}

# recorder options' allowed values: (check, what is allowed)
_RECORDER_RANGES: dict[str, tuple[Any, str]] = {
    "maxDepth": (lambda v: v >= 1, "at least 1"),
    "maxItems": (lambda v: v >= 1, "at least 1"),
    "maxStr": (lambda v: v >= 1, "at least 1"),
    "maxValueSize": (lambda v: v >= 1, "at least 1"),
    "maxRepr": (lambda v: v >= 1, "at least 1"),
    "reprBudgetMs": (lambda v: v > 0, "more than 0"),
    "flightRecorderMb": (lambda v: v > 0, "more than 0"),
    "chunkKb": (lambda v: CHUNK_KB_MIN <= v <= CHUNK_KB_MAX,
                f"between {CHUNK_KB_MIN} and {CHUNK_KB_MAX}"),
    "recorderBackend": (lambda v: v in ("auto", "native", "python"),
                        "one of 'auto', 'native', 'python'"),
}


@dataclass
class Options:
    """The parsed ``devsandbox`` section."""

    agent: bool = True
    record: bool = False
    token: str | None = None
    server_token: str | None = None
    agent_host: str | None = None
    agent_port: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def parse_options(config: dict[str, Any]) -> Options:
    section = config.get("devsandbox")
    if section is None:
        return Options()
    if not isinstance(section, dict):
        raise InvalidRequest("'devsandbox' in the launch configuration must be an object.")
    opts = Options(raw=dict(section))
    for key, value in section.items():
        expected = OPTION_TYPES.get(key)
        if expected is None:
            opts.warnings.append(f"unknown option devsandbox.{key} ignored")
            continue
        kinds = expected if isinstance(expected, tuple) else (expected,)
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise InvalidRequest(
                f"devsandbox.{key} must be of type {' or '.join(k.__name__ for k in kinds)}, "
                f"got {type(value).__name__}.")
        allowed = _RECORDER_RANGES.get(key)
        if allowed is not None and not allowed[0](value):
            raise InvalidRequest(f"devsandbox.{key} must be {allowed[1]}, got {value!r}.")
    opts.agent = section.get("agent", True)
    opts.record = section.get("record", False)
    opts.token = section.get("token")
    opts.server_token = section.get("serverToken")
    opts.agent_host = section.get("agentHost")
    opts.agent_port = section.get("agentPort")
    return opts


def read_env_file(path: str) -> dict[str, str]:
    """Parse a dotenv-style file: KEY=VALUE lines, # comments, optional quotes, ``export``."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise InvalidRequest(f"Cannot read envFile {path!r}: {exc.strerror or exc}")
    env: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("export "):
            text = text[7:].lstrip()
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise InvalidRequest(f"envFile {path}:{number}: expected KEY=VALUE, got {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env


def interpreter(config: dict[str, Any]) -> list[str]:
    python = config.get("python")
    if python is None:
        return [sys.executable]
    argv = shlex.split(python) if isinstance(python, str) else list(python)
    if not argv or not all(isinstance(a, str) for a in argv):
        raise InvalidRequest("'python' must be a path or a list of strings.")
    if not shutil.which(argv[0]):
        raise InvalidRequest(f"The Python interpreter {argv[0]!r} was not found.")
    return argv


async def validate_launch(config: dict[str, Any]) -> None:
    """Refuse launch configurations that cannot work, with a message saying why."""
    targets = [k for k in ("program", "module", "code") if config.get(k) is not None]
    if len(targets) != 1:
        raise InvalidRequest(
            "A launch configuration needs exactly one of 'program', 'module' or 'code'"
            + (f" (got {', '.join(targets)})." if targets else "."))
    cwd = config.get("cwd")
    if cwd is not None and not (isinstance(cwd, str) and os.path.isdir(cwd)):
        raise InvalidRequest(f"The working directory {cwd!r} does not exist.")
    python = interpreter(config)
    base = cwd or os.getcwd()
    if "program" in targets:
        program = config["program"]
        if not isinstance(program, str) or not program:
            raise InvalidRequest("'program' must be a path to a Python file.")
        path = program if os.path.isabs(program) else os.path.join(base, program)
        if not os.path.exists(path):
            raise InvalidRequest(f"Cannot launch: the program file {path!r} does not exist.")
    elif "module" in targets:
        await _check_module(python, config["module"], base, config.get("env") or {})
    args = config.get("args")
    if args is not None and not isinstance(args, (list, str)):
        raise InvalidRequest("'args' must be a list of strings or a string.")


async def _check_module(python: list[str], module: Any, cwd: str, env: dict[str, str]) -> None:
    if not isinstance(module, str) or not all(p.isidentifier() for p in module.split(".")):
        raise InvalidRequest(f"'module' must be a dotted module name, got {module!r}.")
    top = module.split(".")[0]
    # Only the top-level package is looked up: finding it runs no user code.
    probe = "import importlib.util,sys;sys.exit(0 if importlib.util.find_spec(sys.argv[1]) else 3)"
    full_env = dict(os.environ, **{k: str(v) for k, v in env.items() if v is not None})
    try:
        proc = await asyncio.create_subprocess_exec(
            *python, "-c", probe, top, cwd=cwd, env=full_env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        code = await asyncio.wait_for(proc.wait(), 30)
    except (TimeoutError, OSError) as exc:
        raise InvalidRequest(f"Cannot check module {module!r} with {python[0]}: {exc}")
    if code == 3:
        raise InvalidRequest(f"Cannot launch: no module named {top!r} (looked up with {python[0]}"
                             f" from {cwd}).")


def hide_agent(config: dict[str, Any], paths: list[str] = ()) -> dict[str, Any]:
    """A copy of ``config`` whose debugpy ``rules`` leave our agent out of the user's code
    (justMyCode): the ``devsandbox`` modules and the given paths (the launch bootstrap
    directory).  The user's own rules come first, so they can still step into it."""
    rules = config.get("rules")
    if rules is not None and not isinstance(rules, list):
        raise InvalidRequest("'rules' must be a list of objects.")
    ours: list[dict[str, Any]] = [{"module": "devsandbox", "include": False}]
    ours += [{"path": os.path.join(p, "**"), "include": False} for p in paths]
    return dict(config, rules=list(rules or []) + ours)


def with_env(config: dict[str, Any], extra: dict[str, str]) -> dict[str, Any]:
    """A copy of ``config`` whose env includes envFile's variables and ``extra``.

    PYTHONPATH entries in ``extra`` are prepended to the program's own PYTHONPATH.
    """
    config = dict(config)
    env: dict[str, str] = {}
    env_file = config.pop("envFile", None)
    if env_file:
        if not isinstance(env_file, str):
            raise InvalidRequest("'envFile' must be a path.")
        if not os.path.isabs(env_file):
            env_file = os.path.join(config.get("cwd") or os.getcwd(), env_file)
        env.update(read_env_file(env_file))
    user_env = config.get("env") or {}
    if not isinstance(user_env, dict):
        raise InvalidRequest("'env' must be an object of strings.")
    env.update({k: v for k, v in user_env.items()})
    for key, value in extra.items():
        if key == "PYTHONPATH":
            existing = env.get("PYTHONPATH", os.environ.get("PYTHONPATH"))
            value = value + (os.pathsep + existing if existing else "")
        env[key] = value
    config["env"] = env
    return config
