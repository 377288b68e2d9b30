"""`devsandbox debug` end to end: the real CLI in a pty, the real DAP server, real debuggees."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pexpect
import pytest
from dsb_helpers import PROMPT, line_of

CALL = line_of("basic.py", "loop-call")
PRINT = line_of("basic.py", "loop-print")
SQUARE = line_of("basic.py", "square-body")


def test_stops_on_entry_with_source_context(debug):
    run = debug("basic.py")
    first = run.transcript[0]
    assert "> basic.py:1 in <module>  (entry)" in first
    assert re.search(r"^ ->\s+1  ", first, re.MULTILINE), first


def test_breakpoint_print_step_finish_and_frames(debug):
    run = debug("basic.py")
    assert f"Breakpoint 1: basic.py:{CALL}" in run.cmd(f"b {CALL}")

    out = run.cmd("c")
    assert f"> basic.py:{CALL} in main  (breakpoint 1)" in out
    # a window of source around the current line, arrow and breakpoint mark on it
    assert re.search(rf"^B->\s+{CALL}  \s+total \+= square\(i\)", out, re.MULTILINE), out
    assert re.search(rf"^\s+{CALL - 1}  \s+for i in range\(n\):", out, re.MULTILINE), out
    assert re.search(rf"^\s+{PRINT}  ", out, re.MULTILINE), out

    assert run.cmd("p total").splitlines()[-1] == "0"
    assert run.cmd("p i + 40").splitlines()[-1] == "40"

    out = run.cmd("n")
    assert f"> basic.py:{PRINT} in main  (step)" in out
    out = run.cmd("n")
    assert "step 0 total 0" in out  # the program's output shows up
    assert f"> basic.py:{CALL - 1} in main  (step)" in out
    run.cmd("n")

    out = run.cmd("s")
    assert f"> basic.py:{SQUARE - 1} in square  (step)" in out or \
        f"> basic.py:{SQUARE} in square  (step)" in out
    if f"basic.py:{SQUARE - 1}" in out:  # stopped on the def line first (3.11)
        run.cmd("s")

    out = run.cmd("where")
    frames = re.findall(r"^[> ] #(\d+)\s+basic\.py:(\d+) in (\S+)", out, re.MULTILINE)
    assert [f[2] for f in frames] == ["square", "main", "<module>"], out
    assert re.search(r"^> #0 ", out, re.MULTILINE)

    out = run.cmd("up")
    assert f"> basic.py:{CALL} in main  (frame #1)" in out
    assert run.cmd("p i").splitlines()[-1] == "1"
    out = run.cmd("where")
    assert re.search(r"^> #1 ", out, re.MULTILINE), out
    out = run.cmd("up")
    assert "in <module>  (frame #2)" in out
    assert "already at the oldest frame" in run.cmd("up")
    out = run.cmd("down 2")
    assert f"> basic.py:{SQUARE} in square  (frame #0)" in out

    out = run.cmd("locals")
    assert "x = 1  (int)" in out

    out = run.cmd("finish")
    assert f"> basic.py:{CALL} in main  (step)" in out
    assert "square() returned 1" in out

    _, status = run.finish("q")
    assert status == 0


def test_conditional_breakpoint_and_program_output(debug):
    run = debug("basic.py", "6")
    out = run.cmd(f"b {PRINT}, i == 3")
    assert f"Breakpoint 1: basic.py:{PRINT} if i == 3" in out
    out = run.cmd("c")
    assert "step 0 total 0" in out and "step 2 total 5" in out
    assert f"basic.py:{PRINT} in main  (breakpoint 1)" in out
    assert run.cmd("p i, total").splitlines()[-1] == "(3, 14)"
    out = run.cmd("b")
    assert f"1: basic.py:{PRINT} if i == 3" in out
    assert "Deleted breakpoint 1" in run.cmd("cl 1")
    out, status = run.finish("c")
    assert "step 5 total 55" in out
    assert "done 55" in out  # stderr too
    assert "The program exited with code 5." in out
    assert status == 5


def test_preset_breakpoint_without_stop_on_entry(debug):
    run = debug("-b", f"basic.py:{SQUARE}:x == 2", "--no-stop-on-entry", "basic.py")
    out = run.transcript[0]
    assert "(entry)" not in out
    assert f"> basic.py:{SQUARE} in square  (breakpoint 1)" in out
    assert run.cmd("p x").splitlines()[-1] == "2"
    run.cmd("cl")
    out, status = run.finish("c")
    assert "The program exited with code 4." in out  # 0+1+4+9 = 14
    assert status == 4


def test_function_breakpoint(debug):
    run = debug("basic.py")
    assert "Breakpoint 1: square()" in run.cmd("b square")
    out = run.cmd("c")
    assert "in square  (breakpoint 1)" in out


def test_module_with_arguments(debug):
    body = line_of("pkg/tool.py", "tool-body")
    run = debug("-m", "pkg.tool", "alpha", "-v", "--beta")
    assert "> pkg/tool.py:1 in <module>  (entry)" in run.transcript[0]
    run.cmd(f"b pkg/tool.py:{body}")
    out = run.cmd("c")
    assert f"> pkg/tool.py:{body} in run  (breakpoint 1)" in out
    assert run.cmd("p args").splitlines()[-1] == "['alpha', '-v', '--beta']"
    out, status = run.finish("c")
    assert "tool got alpha -v --beta" in out
    assert status == 3


def test_uncaught_exception_stops_then_exit_code_1(debug):
    run = debug("--no-stop-on-entry", "boom.py")
    out = run.transcript[0]
    assert f"> boom.py:{line_of('boom.py', 'raise')} in parse" in out
    assert "(exception: ValueError: invalid literal for int() with base 10: 'oops')" in out
    assert run.cmd("p text").splitlines()[-1] == "'oops'"
    out, status = run.finish("c")
    assert "ValueError" in out  # the traceback, from the program's stderr
    assert "The program exited with code 1." in out
    assert status == 1


def test_exit_code_without_stopping(debug):
    run = debug("--no-stop-on-entry", "basic.py", "3", wait=False)
    run.child.expect_exact("The program exited with code 5.")  # 0+1+4 = 5
    run.child.expect(pexpect.EOF)
    run.child.close()
    assert run.child.exitstatus == 5
    assert PROMPT not in run.child.before


def test_errors_keep_the_prompt(debug):
    run = debug("basic.py")
    out = run.cmd("frobnicate 3")
    assert "*** unknown command 'frobnicate'" in out
    assert "*** bad breakpoint 'nowhere:x'" in run.cmd("b nowhere:x")
    assert "*** no such file: nowhere.py" in run.cmd("b nowhere.py:3")
    assert "*** basic.py has only" in run.cmd("b 999")
    assert "*** line 3 of basic.py is blank or a comment" in run.cmd("b 3")
    assert "*** NameError: name 'missing' is not defined" in run.cmd("p missing")
    assert "*** ZeroDivisionError: division by zero" in run.cmd("!1/0")
    assert "*** no breakpoint number 7" in run.cmd("cl 7")
    assert "*** no frame #9" in run.cmd("frame 9")
    assert "*** COUNT must be a number" in run.cmd("up x")
    # still fully working afterwards
    out = run.cmd(f"b {CALL}")
    assert "Breakpoint 1" in out
    assert "(breakpoint 1)" in run.cmd("c")


def test_eval_statement_changes_state(debug):
    run = debug("basic.py")
    run.cmd(f"b {PRINT}")
    run.cmd("c")
    run.cmd("!total = 100")
    assert run.cmd("p total").splitlines()[-1] == "100"
    # the debuggee's output may come before or after the next prompt: wait for it
    run.child.sendline("eval print('from', 'eval')")
    run.child.expect_exact("from eval")
    run.cmd("p 1")
    run.cmd("cl")
    out, status = run.finish("c")
    assert "step 0 total 100" in out
    assert status == (100 + 1 + 4 + 9) % 10


def test_empty_line_repeats_stepping_and_list(debug):
    run = debug("basic.py")
    run.cmd(f"b {CALL}")
    run.cmd("c")
    assert f"basic.py:{PRINT} in main  (step)" in run.cmd("n")
    assert f"basic.py:{CALL - 1} in main  (step)" in run.cmd("")
    assert f"basic.py:{CALL} in main" in run.cmd("")
    run.cmd("p 1")  # not a stepping command: an empty line now does nothing
    assert "(step)" not in run.cmd("")
    out = run.cmd("l")
    assert re.search(rf"^B->\s+{CALL}\s", out, re.MULTILINE), out
    last = max(int(n) for n in re.findall(r"^\S*\s+(\d+)  ", out, re.MULTILINE))
    out = run.cmd("")
    assert re.search(rf"^\s+{last + 1}  ", out, re.MULTILINE), out


def test_quit_terminates_the_program(debug):
    run = debug("spin.py")
    run.cmd(f"b {line_of('spin.py', 'spin')}")
    run.cmd("c")
    _out, status = run.finish("q")
    assert status == 0


def test_ctrl_c_pauses_then_threads(debug):
    run = debug("--no-stop-on-entry", "spin.py", wait=False)
    run.child.expect_exact("spinning")
    run.child.sendintr()
    out = run.expect_prompt()
    assert "(paused)" in out
    out = run.cmd("threads")
    ids = re.findall(r"^[> ]\s+(\d+)  (\S+)", out, re.MULTILINE)
    names = {name: tid for tid, name in ids}
    assert "MainThread" in names and "worker" in names, out
    out = run.cmd(f"thread {names['worker']}")
    assert "in worker" in out
    out = run.cmd("where")
    assert "in worker" in out.splitlines()[1]
    assert "*** no thread 9999" in run.cmd("thread 9999")
    run.finish("q")


def test_colour_on_a_terminal_and_no_color(debug):
    run = debug("basic.py", color=True)
    run.child.sendline("where")
    run.child.expect_exact(PROMPT)
    assert "\x1b[" in run.child.before
    run.finish("q")

    plain = debug("basic.py", color=False)
    plain.child.sendline("where")
    plain.child.expect_exact(PROMPT)
    # readline may still send its own terminal controls; ours are SGR colour codes
    assert not re.search(r"\x1b\[[0-9;]*m", plain.child.before)
    plain.finish("q")


def test_help_and_history(debug):
    run = debug("basic.py")
    out = run.cmd("help")
    for word in ("break, b", "continue, c", "finish, return, r", "where, bt, w", "eval, !"):
        assert word in out
    assert "[FILE:]LINE" in run.cmd("help b")
    run.cmd("p 6 * 7")
    run.finish("q")
    history = (run.home / "cache" / "devsandbox" / "term_history").read_text()
    assert "p 6 * 7" in history


def _other_python():
    candidates = ["/root/.cache/devsandbox-pythons/cpython-3.13/bin/python3.13",
                  shutil.which("python3.13"), shutil.which("python3.11"), shutil.which("python3.12")]
    for exe in candidates:
        if not exe:
            continue
        try:
            version = subprocess.run([exe, "-c", "import sys; print(sys.version_info[:2])"],
                                     check=False, capture_output=True, text=True,
                                     timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if version and version != str(sys.version_info[:2]):
            return exe, version
    return None, None


def test_python_option_picks_the_debuggee_interpreter(debug):
    exe, version = _other_python()
    if exe is None:
        pytest.skip("no second CPython version installed")
    run = debug("--python", exe, "basic.py")
    run.cmd("!import sys")
    assert run.cmd("p sys.version_info[:2]").splitlines()[-1] == version
    run.finish("q")


def test_child_processes_run_undebugged(debug):
    run = debug("--no-stop-on-entry", "spawn.py", wait=False)
    run.child.expect_exact("child says hi")
    run.child.expect_exact("parent done 0")
    run.child.expect(pexpect.EOF)
    run.child.close()
    assert run.child.exitstatus == 0


def test_list_ranges_other_files_and_globals(debug):
    run = debug("basic.py")
    out = run.cmd(f"l {SQUARE - 1}, {SQUARE + 1}")
    numbers = [int(n) for n in re.findall(r"^\S*\s+(\d+)  ", out, re.MULTILINE)]
    assert numbers == [SQUARE - 1, SQUARE, SQUARE + 1], out
    out = run.cmd("l boom.py:5")
    assert "return int(text)  # @raise" in out
    out = run.cmd("l .")
    assert re.search(r"^ ->\s+1  ", out, re.MULTILINE), out
    run.cmd(f"b {CALL}")
    run.cmd("c")
    out = run.cmd("globals")
    assert re.search(r"^square = <function square", out, re.MULTILINE), out
    assert "__name__" not in out
    out = run.cmd("pp {'k': list(range(3))}")
    assert "{'k': [0, 1, 2]}" in out
