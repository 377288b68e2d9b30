"""Our agent runs inside the program (its import hook, its threads): stepping never enters it,
with or without justMyCode, while the user's own rules still come first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MAIN = '''\
def work():
    import helper_mod  # the recorder's import hook runs here
    return helper_mod.VALUE


print(work())
'''


@pytest.mark.parametrize("just_my_code", [True, False])
def test_step_in_at_an_import_goes_to_the_imported_module(dap, tmp_path: Path,
                                                          just_my_code: bool) -> None:
    main = tmp_path / "main.py"
    main.write_text(MAIN)
    (tmp_path / "helper_mod.py").write_text("VALUE = 42\n")
    dap.start("launch", {"program": str(main), "console": "internalConsole", "cwd": str(tmp_path),
                         "justMyCode": just_my_code,
                         "devsandbox": {"record": True, "recordingPath": str(tmp_path)}},
              breakpoints={str(main): [{"line": 2}]}, timeout=60)
    tid = dap.stopped(timeout=60)["threadId"]
    seen = []
    while len(seen) < 60 and (not seen or seen[-1][0] != str(main)):
        dap.resume("stepIn", tid)
        frame = dap.top_frame(tid)
        seen.append((frame["source"]["path"], frame["line"], frame["name"]))
    ours_too = [s for s in seen if "devsandbox-agent-" in s[0]
                or f"{os.sep}devsandbox{os.sep}" in s[0]]  # the bootstrap, or the package
    assert not ours_too, seen
    ours = [(Path(p).name, line, name) for p, line, name in seen if p.startswith(str(tmp_path))]
    assert ours == [("helper_mod.py", 1, "<module>"), ("main.py", 3, "work")]
    if just_my_code:  # without it, library import hooks (setuptools') may be stepped through
        assert len(seen) == 2


def test_the_users_rules_come_first(dap, tmp_path: Path) -> None:
    from devsandbox.dap.launch import hide_agent

    mine = [{"module": "devsandbox.recorder", "include": True}]
    rules = hide_agent({"rules": mine}, ["/tmp/x"])["rules"]
    assert rules[0] == mine[0]
    assert {"module": "devsandbox", "include": False} in rules[1:]
    assert {"path": "/tmp/x/**", "include": False} in rules[1:]
    dap.request("initialize", {"adapterID": "devsandbox"})
    (tmp_path / "x.py").write_text("pass\n")
    bad = dap.request("launch", {"program": str(tmp_path / "x.py"), "rules": "nope"},
                      check=False)
    assert not bad["success"] and "'rules' must be a list" in bad["message"]
