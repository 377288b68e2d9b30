"""The AST security scanner's decisions at each safety level, on dangerous and harmless code.

The expectation column says, for strict, normal and permissive in that order,
whether the code runs (A: allowed) or is refused (R).
"""

from __future__ import annotations

import pytest

from devsandbox.agent.live.scanner import decide, scan

pytestmark = pytest.mark.timeout(60)

TABLE = [
    # harmless: runs at every level
    ("1 + 1", "AAA", None),
    ("x = [i * i for i in range(10)]\nsum(x)", "AAA", None),
    ("import math\nmath.sqrt(16)", "AAA", None),
    ("import os\nos.path.join('a', 'b')", "AAA", None),
    ("import json\njson.dumps({'a': 1})", "AAA", None),
    ("CONFIG['threshold'] = 5", "AAA", None),
    ("def f(n):\n    return n * 2\nf(3)", "AAA", None),
    ("for i in range(3):\n    print(i)", "AAA", None),
    ("while True:\n    break", "AAA", None),
    ("import collections\ncollections.Counter('abc')", "AAA", None),
    ("sorted(ACCOUNTS.values(), key=lambda a: a.balance)", "AAA", None),
    ("import time\ntime.time()", "AAA", None),
    ("'%s is not called' % 'subprocess'", "AAA", None),
    ("obj.system_name", "AAA", None),
    ("getattr(obj, 'balance', 0)", "AAA", None),
    ("import threading\nthreading.Thread(target=print).start()", "AAA", None),
    ("async def main():\n    await asyncio.sleep(0)", "AAA", None),
    # low risk: only strict refuses
    ("open('data.txt').read()", "RAA", "file-read"),
    ("with open('x.csv', 'r') as f:\n    f.readline()", "RAA", "file-read"),
    ("globals()", "RAA", "scope"),
    ("vars(obj)", "RAA", "scope"),
    ("obj.__dict__", "RAA", "internals"),
    # medium risk: only strict refuses
    ("while True:\n    pass", "RAA", "endless-loop"),
    ("import sys\nsys._getframe()", "RAA", "introspection"),
    ("import gc\ngc.get_objects()", "RAA", "introspection"),
    ("getattr(obj, name)", "RAA", "computed-attribute"),
    ("input('?')", "RAA", "blocking"),
    ("import os\nos.environ['X'] = '1'", "RAA", "environment"),
    ("import signal\nsignal.signal(2, print)", "RAA", "signals"),
    ("import multiprocessing", "RAA", "blocked-import"),
    ("open(path, mode)", "RAA", "file-open"),
    # high risk: normal refuses too (unless forced)
    ("eval('1+1')", "RRA", "dynamic-code"),
    ("exec('x = 1')", "RRA", "dynamic-code"),
    ("__import__('os')", "RRA", "dynamic-import"),
    ("import importlib\nimportlib.import_module('os')", "RRA", "dynamic-import"),
    ("import pickle\npickle.loads(data)", "RRA", "deserialize"),
    ("import marshal\nmarshal.loads(b'')", "RRA", "deserialize"),
    ("open('out.txt', 'w').write('x')", "RRA", "file-write"),
    ("open('log.txt', mode='a')", "RRA", "file-write"),
    ("import socket\nsocket.create_connection(('example.com', 80))", "RRA", "network"),
    ("import urllib.request\nurllib.request.urlopen('http://example.com')", "RRA", "network"),
    ("import os\nos.remove('file')", "RRA", "file-delete"),
    ("import sys\nsys.exit(0)", "RRA", "terminate"),
    ("from pathlib import Path\nPath('x').unlink()", "RRA", "file-delete"),
    ("import sys\nsys.modules['json'] = None", "RRA", "patch-runtime"),
    ("f.__code__ = g.__code__", "RRA", "internals"),
    ("import builtins\nbuiltins.print = None", "RRA", "patch-runtime"),
    # critical: normal refuses too (unless forced)
    ("import os\nos.system('ls')", "RRA", "process"),
    ("import subprocess\nsubprocess.run(['ls'])", "RRA", "process"),
    ("import subprocess as sp\nsp.Popen('ls', shell=True)", "RRA", "process"),
    ("from os import system as run\nrun('ls')", "RRA", "process"),
    ("import shutil\nshutil.rmtree('/tmp/x')", "RRA", "delete-tree"),
    ("import ctypes\nctypes.CDLL(None)", "RRA", "ctypes"),
    ("().__class__.__bases__[0].__subclasses__()", "RRA", "internals"),
    ("f.__globals__['secret']", "RRA", "internals"),
    ("__builtins__['eval']('1')", "RRA", "internals"),
    ("getattr(f, '__globals__')", "RRA", "internals"),
    ("import os\nos.kill(os.getpid(), 9)", "RRA", "terminate"),
    ("import os\nos._exit(1)", "RRA", "terminate"),
    ("import pty\npty.spawn('/bin/sh')", "RRA", "process"),
]
LEVELS = ("strict", "normal", "permissive")


def test_the_table_is_big_enough():
    assert len(TABLE) >= 40
    assert sum(1 for _, expected, _ in TABLE if expected == "AAA") >= 15
    assert sum(1 for _, expected, _ in TABLE if expected == "RRA") >= 20


@pytest.mark.parametrize(("code", "expected", "rule"), TABLE, ids=[c for c, _, _ in TABLE])
def test_decision_at_each_level(code, expected, rule):
    report = scan(code)
    assert "syntaxError" not in report
    decisions = "".join("A" if decide(report, level)["allowed"] else "R" for level in LEVELS)
    assert decisions == expected, report["findings"]
    rules = {f["rule"] for f in report["findings"]}
    if rule is None:
        assert report["findings"] == [] and report["risk"] == 0
    else:
        assert rule in rules
        assert 0 < report["risk"] <= 100
        finding = next(f for f in report["findings"] if f["rule"] == rule)
        assert finding["line"] >= 1 and finding["message"]


def test_force_lets_normal_run_high_risk_code_but_not_strict():
    report = scan("import os\nos.system('true')")
    assert report["risk"] >= 70
    assert decide(report, "normal", force=True)["allowed"]
    assert not decide(report, "strict", force=True)["allowed"]
    assert "force" in decide(report, "normal")["reason"]


def test_findings_name_the_line_and_follow_aliases():
    report = scan("x = 1\nimport subprocess as sp\n\nsp.check_output(['id'])\n")
    lines = {(f["rule"], f["line"]) for f in report["findings"]}
    assert ("blocked-import", 2) in lines and ("process", 4) in lines
    code = next(f["code"] for f in report["findings"] if f["rule"] == "process")
    assert code == "subprocess.check_output()"


def test_syntax_errors_are_reported_not_scored():
    report = scan("def broken(:\n")
    assert report["syntaxError"]["line"] == 1 and report["risk"] == 0


async def test_levels_and_force_through_the_agent(app):
    refused = await app.error("eval", code="import os\nos.getpid() if False else os.system('true')")
    assert "refused by the normal safety level" in refused and "os.system()" in refused
    forced = await app.call("eval", code="eval('6 * 7')", force=True)
    assert forced["value"] == "42" and forced["scan"]["forced"]
    # a dangerous callable is caught whatever path reaches it
    assert "is os.system" in await app.error("call", target="os:system", args=["true"])
    await app.call("setSafety", level="strict")
    assert "strict" in await app.error("eval", code="while True:\n    break\nglobals()")
    assert (await app.call("eval", code="2 + 2"))["value"] == "4"
    await app.call("setSafety", level="permissive")
    allowed = await app.call("eval", code="eval('1 + 1')")
    assert allowed["value"] == "2" and allowed["scan"]["findings"][0]["rule"] == "dynamic-code"
    # the level belongs to the client: another one still gets the default
    assert "normal" in await app.error("eval", code="eval('1')", client="other")
    actions = [e["action"] for e in app.audit_entries()]
    assert actions.count("refused") == 4 and "setSafety" in actions
