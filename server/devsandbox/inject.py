"""Bring the DevSandbox agent into a Python process that did no setup of its own.

``inject_agent(pid, host, port, token)`` makes the process ``pid`` put a
directory exposing only our ``devsandbox`` package on ``sys.path`` and run
``devsandbox.agent.connect(host, port, token)``; the agent then connects to the
server's ``AgentHub`` listening on ``(host, port)``.  CPython 3.14+ targets get
the code through ``sys.remote_exec`` (PEP 768); older ones through gdb, which
calls ``PyGILState_Ensure`` / ``PyRun_SimpleString`` / ``PyGILState_Release``
on the target's main thread (the mechanism debugpy uses for ``--pid``).

The injected code reports back through a small JSON file, so an exception in
the target (say, an import error) reaches the user as a readable message.

``read_embedded_registry(port)`` reads what ``devsandbox.listen()`` (embedded
mode) wrote for a program whose debugpy listens on ``port``.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from devsandbox.agent import wire

from .errors import CannotHandle, InvalidRequest

log = logging.getLogger(__name__)

MIN_VERSION = (3, 11)
REMOTE_EXEC_VERSION = (3, 14)
GDB_PACKAGE = "gdb"  # the Debian/Ubuntu package providing gdb
_RESULT = "result.json"
_PYTHON_EXE = re.compile(r"^python(\d)?(?:\.(\d+))?[a-z]*$")
_LIBPYTHON = re.compile(r"/libpython(\d)\.(\d+)[a-z]*\.so")


@dataclass(frozen=True)
class Target:
    """What we know about the process to inject into."""

    pid: int
    exe: str
    version: tuple[int, int] | None
    uid: int
    gid: int


async def inject_agent(pid: int, host: str, port: int, token: str, timeout: float = 30.0) -> None:
    """Make process ``pid`` load our agent and connect it to ``(host, port)`` with ``token``.

    Returns once the agent's ``connect()`` has returned in the target; the
    caller then waits for the agent on its hub (``AgentHub.wait_for_agent``).
    Raises InvalidRequest (no such process, not Python) or CannotHandle (gdb
    missing, ptrace refused, unsupported version, timeout, failure in the target).
    """
    await asyncio.to_thread(inject_agent_sync, pid, host, port, token, timeout)


def inject_agent_sync(pid: int, host: str, port: int, token: str, timeout: float = 30.0) -> None:
    """The blocking body of ``inject_agent``."""
    started = time.monotonic()
    target = inspect_target(pid)
    if target.version is not None and target.version < MIN_VERSION:
        raise CannotHandle(
            f"Process {pid} runs Python {target.version[0]}.{target.version[1]}; DevSandbox "
            f"needs Python {MIN_VERSION[0]}.{MIN_VERSION[1]} or newer"
        )
    path_dir = bootstrap_path_dir(target)
    work = tempfile.mkdtemp(prefix="devsandbox-inject-")
    try:
        if target.uid != os.getuid():
            os.chown(work, target.uid, target.gid)  # the target writes its result here
        result_file = os.path.join(work, _RESULT)
        code = bootstrap_code(path_dir, host, port, token, result_file)
        remote = target.version is not None and target.version >= REMOTE_EXEC_VERSION
        if remote and _try_remote_exec(target, code, work, timeout):
            how = "sys.remote_exec"  # runs at the target's next safe point: wait for it
            _wait_result(target, result_file, started + timeout)
        else:
            how = "gdb"  # the code has run when gdb returns
            rc = _run_gdb(target, one_line(code), work, timeout)
            if rc != 0 and not os.path.exists(result_file):
                raise CannotHandle(
                    f"The code DevSandbox injected into process {target.pid} failed before "
                    "reporting back (the program's stderr may say why)"
                )
            _wait_result(target, result_file, time.monotonic() + 1.0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info(
        "agent injected into process %d with %s in %.2fs", pid, how, time.monotonic() - started
    )


# -- the target --------------------------------------------------------------------------------


def inspect_target(pid: int) -> Target:
    """Check that ``pid`` is a live Python process we may look at."""
    proc = f"/proc/{pid}"
    if pid <= 0 or not os.path.isdir(proc):
        raise InvalidRequest(f"There is no process with id {pid}")
    try:
        st = os.stat(proc)
        exe = os.readlink(f"{proc}/exe").removesuffix(" (deleted)")
        with open(f"{proc}/maps", encoding="utf-8", errors="replace") as f:
            maps = f.read()
    except FileNotFoundError:
        raise InvalidRequest(f"There is no process with id {pid} (it has exited)") from None
    except PermissionError:
        raise CannotHandle(
            f"DevSandbox may not inspect process {pid} (permission denied): it belongs to another "
            "user or is protected. Run DevSandbox as the same user as the program, as root, or "
            "with CAP_SYS_PTRACE."
        ) from None
    name = os.path.basename(exe)
    exe_match = _PYTHON_EXE.match(name)
    lib_match = _LIBPYTHON.search(maps)
    if exe_match is None and lib_match is None:
        raise InvalidRequest(f"Process {pid} ({exe}) is not a Python process")
    version: tuple[int, int] | None = None
    if lib_match is not None:
        version = (int(lib_match.group(1)), int(lib_match.group(2)))
    elif exe_match is not None and exe_match.group(2) is not None:
        version = (int(exe_match.group(1)), int(exe_match.group(2)))
    else:
        version = _ask_version(exe)
    return Target(pid=pid, exe=exe, version=version, uid=st.st_uid, gid=st.st_gid)


def _ask_version(exe: str) -> tuple[int, int] | None:
    """The version of a Python binary whose name does not say it (``python3``)."""
    try:
        out = subprocess.run(
            [exe, "-I", "-S", "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        ).stdout.split()
        return (int(out[0]), int(out[1]))
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        log.warning("could not tell the Python version of %s", exe)
        return None


# -- the code the target runs ---------------------------------------------------------------


def adapters_package_dir() -> str:
    """The directory of the ``devsandbox`` package that holds the agent (adapters root)."""
    spec = importlib.util.find_spec("devsandbox.agent")
    if spec is None or spec.origin is None:
        raise CannotHandle("DevSandbox's agent package (devsandbox.agent) is not installed")
    return os.path.dirname(os.path.dirname(os.path.abspath(spec.origin)))


def bootstrap_path_dir(target: Target) -> str:
    """A directory holding only a ``devsandbox`` symlink to our package, for the target's sys.path.

    It stays in place for the target's lifetime (the agent may import lazily),
    so it is a stable per-user directory reused across injections.
    """
    package = adapters_package_dir()
    digest = hashlib.sha256(package.encode()).hexdigest()[:16]
    if target.uid == os.getuid():
        base = wire.registry_dir()
        os.makedirs(base, mode=0o700, exist_ok=True)
        path_dir = os.path.join(base, f"path-{digest}")
        link = os.path.join(path_dir, "devsandbox")
        os.makedirs(path_dir, mode=0o700, exist_ok=True)
        if not (os.path.islink(link) and os.readlink(link) == package):
            tmp = f"{link}.{os.getpid()}.tmp"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(package, tmp)
            os.replace(tmp, link)
        return path_dir
    # we are root, injecting into another user's process: a fresh directory that user can read
    path_dir = tempfile.mkdtemp(prefix=f"devsandbox-path-{digest}-")
    os.symlink(package, os.path.join(path_dir, "devsandbox"))
    os.chmod(path_dir, 0o755)
    return path_dir


def bootstrap_code(path_dir: str, host: str, port: int, token: str, result_file: str) -> str:
    """Python source that loads and connects the agent, then writes ``result_file``."""
    return f"""\
def _devsandbox_bootstrap(path, host, port, token, result_file):
    import json, os, sys, traceback
    try:
        if path not in sys.path:
            sys.path.insert(0, path)
        import devsandbox.agent
        devsandbox.agent.connect(host, port, token)
        result = {{"ok": True, "version": list(sys.version_info[:3])}}
    except BaseException as exc:
        result = {{"ok": False, "version": list(sys.version_info[:3]),
                   "error": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
                   "traceback": traceback.format_exc()}}
    with open(result_file + ".tmp", "w") as f:
        json.dump(result, f)
    os.replace(result_file + ".tmp", result_file)
_devsandbox_bootstrap({path_dir!r}, {host!r}, {int(port)!r}, {token!r}, {result_file!r})
"""


def one_line(code: str) -> str:
    """``code`` as one line without quotes or backslashes, safe inside a gdb string literal."""
    data = ",".join(str(b) for b in code.encode("utf-8"))
    return f"exec(bytes([{data}]).decode(),{{}})"


def _wait_result(target: Target, result_file: str, deadline: float) -> None:
    while not os.path.exists(result_file):
        if time.monotonic() > deadline:
            raise CannotHandle(
                f"Timed out waiting for process {target.pid} to run the DevSandbox agent (its "
                "main thread may be blocked outside Python code)"
            )
        if not os.path.isdir(f"/proc/{target.pid}"):
            raise CannotHandle(f"Process {target.pid} exited while the agent was being injected")
        time.sleep(0.05)
    with open(result_file, encoding="utf-8") as f:
        result: dict[str, Any] = json.load(f)
    if not result.get("ok"):
        log.error("agent failed in process %d:\n%s", target.pid, result.get("traceback", ""))
        raise CannotHandle(
            f"The DevSandbox agent failed to start in process {target.pid}: {result.get('error')}"
        )


# -- CPython 3.14+: sys.remote_exec -------------------------------------------------------------


def _try_remote_exec(target: Target, code: str, work: str, timeout: float) -> bool:
    """Schedule ``code`` in the target with sys.remote_exec; False if that is not available."""
    script = os.path.join(work, "bootstrap.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write(code)
    if target.uid != os.getuid():
        os.chown(script, target.uid, target.gid)
    if sys.version_info[:2] == target.version and hasattr(sys, "remote_exec"):
        argv = [
            sys.executable,
            "-I",
            "-c",
            "import sys; sys.remote_exec(int(sys.argv[1]), sys.argv[2])",
        ]
    else:
        argv = [
            target.exe,
            "-I",
            "-c",
            "import sys; sys.remote_exec(int(sys.argv[1]), sys.argv[2])",
        ]
    try:
        proc = subprocess.run(
            [*argv, str(target.pid), script],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("sys.remote_exec via %s failed (%s); trying gdb", argv[0], exc)
        return False
    if proc.returncode == 0:
        return True
    if "PermissionError" in proc.stderr or "Operation not permitted" in proc.stderr:
        raise CannotHandle(_ptrace_advice(target.pid))
    log.warning("sys.remote_exec failed (%s); trying gdb", proc.stderr.strip().splitlines()[-1:])
    return False


# -- gdb ----------------------------------------------------------------------------------------

_GDB_SCRIPT = """\
set $ok = (int)Py_IsInitialized()
printf "DEVSANDBOX initialized=%d\\n", $ok
if $ok
  set $gil = (int)PyGILState_Ensure()
  set $rc = (int)PyRun_SimpleString("{code}")
  call (void)PyGILState_Release($gil)
  printf "DEVSANDBOX rc=%d\\n", $rc
end
detach
quit
"""


def _run_gdb(target: Target, line: str, work: str, timeout: float) -> int:
    gdb = shutil.which("gdb")
    if gdb is None:
        raise CannotHandle(
            "Attaching to a running process needs gdb, which is not installed: install it "
            f"(on Debian or Ubuntu: apt-get install {GDB_PACKAGE})"
        )
    script = os.path.join(work, "inject.gdb")
    with open(script, "w", encoding="utf-8") as f:
        f.write(_GDB_SCRIPT.format(code=line))
    argv = [
        gdb,
        "--nx",
        "--nh",
        "--batch",
        "-iex",
        "set auto-load off",
        "-iex",
        "set debuginfod enabled off",
        "-iex",
        "set pagination off",
        "-iex",
        "set confirm off",
        "-ex",
        "set scheduler-locking off",
        "-p",
        str(target.pid),
        "-x",
        script,
    ]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONIOENCODING")
    }
    log.debug("running %s", argv)
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=env,
            errors="replace",
        )
    except subprocess.TimeoutExpired:
        raise CannotHandle(
            f"gdb did not finish injecting into process {target.pid} within {timeout:g}s"
        ) from None
    output = proc.stdout + proc.stderr
    log.debug("gdb output:\n%s", output)
    return _check_gdb_output(target, output)


def _check_gdb_output(target: Target, output: str) -> int:
    """PyRun_SimpleString's return code from gdb's output; raises on gdb's own failures."""
    if "ptrace: Operation not permitted" in output or "Could not attach to process" in output:
        raise CannotHandle(_ptrace_advice(target.pid))
    if "ptrace: No such process" in output:
        raise InvalidRequest(f"There is no process with id {target.pid} (it has exited)")
    if "DEVSANDBOX initialized=0" in output:
        raise CannotHandle(
            f"The Python interpreter in process {target.pid} is not running "
            "(it is starting up or shutting down)"
        )
    match = re.search(r"DEVSANDBOX rc=(-?\d+)", output)
    if match is None:
        tail = " | ".join(line for line in output.strip().splitlines()[-3:])
        if "No symbol" in output or "unknown return type" in output:
            raise CannotHandle(
                f"Process {target.pid} ({target.exe}) does not expose the Python C API to gdb, so "
                f"DevSandbox cannot inject its agent ({tail})"
            )
        raise CannotHandle(f"gdb could not run code in process {target.pid}: {tail}")
    return int(match.group(1))


def _ptrace_advice(pid: int) -> str:
    scope = None
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope", encoding="ascii") as f:
            scope = f.read().strip()
    except OSError:
        pass
    advice = (
        f"The system does not allow DevSandbox to attach to process {pid} "
        "(ptrace: Operation not permitted)."
    )
    if scope and scope != "0":
        advice += (
            f" /proc/sys/kernel/yama/ptrace_scope is {scope}; allow attaching with "
            "'echo 0 | sudo tee /proc/sys/kernel/yama/ptrace_scope'"
            + (" (scope 3 cannot be lowered without a reboot)" if scope == "3" else "")
            + ", or run DevSandbox as root or with CAP_SYS_PTRACE."
        )
    else:
        advice += (
            " The process may belong to another user, or this container lacks CAP_SYS_PTRACE "
            "(docker run --cap-add=SYS_PTRACE)."
        )
    return advice


# -- embedded mode registry --------------------------------------------------------------------


def read_embedded_registry(port: int) -> dict[str, Any] | None:
    """What ``devsandbox.listen(port)`` recorded, if such a program runs and belongs to us."""
    paths = [wire.registry_file(port)]
    fallback = os.path.join(
        os.path.expanduser(wire.REGISTRY_FALLBACK_DIR), os.path.basename(paths[0])
    )
    if fallback not in paths:
        paths.append(fallback)
    for path in paths:
        entry = _read_registry_file(path)
        if entry is not None:
            return entry
    return None


def _read_registry_file(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            st = os.fstat(f.fileno())
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable registry file %s: %s", path, exc)
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        log.warning("ignoring registry file %s: not private to this user", path)
        return None
    if not isinstance(data, dict) or any(key not in data for key in wire.REGISTRY_KEYS):
        log.warning("ignoring malformed registry file %s", path)
        return None
    try:
        os.kill(int(data["pid"]), 0)
    except ProcessLookupError:
        log.info("registry file %s belongs to a process that has exited", path)
        return None
    except (PermissionError, ValueError, TypeError):
        return None
    return data
