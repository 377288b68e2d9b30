"""Modify and replay: re-run one recorded call with other inputs and find where it diverges.

`build_spec` turns a recorded call into what the harness
(adapters/devsandbox/replaycall.py) needs to run it again in a subprocess:
the function's source (recorded or new), its arguments and the module globals
it reads as recorded (literal values are rebuilt from their repr; objects
known only by their repr become placeholders), and the functions it calls
answered with their recorded return values, in order.  The harness records
the new run; `compare` walks the two runs of the function's own frame side by
side and reports the first divergence: a step where control flow differs
(another line or event) or where a value newly differs (the modified inputs
themselves are not a divergence, what they cause is).
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from devsandbox.recorder.format import E

from . import evaluate, globalvals, navigate
from .reader import CodeInfo
from .timeline import Timeline

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_KINDS = {E.CALL: "call", E.LINE: "line", E.RETURN: "return", E.EXCEPTION: "exception"}


class ReplayError(Exception):
    """The call cannot be replayed (with a message for the user)."""


@dataclass
class Call:
    tid: int
    step: int  # its call event
    end: int  # its last step (return, or where the recording ends)
    fid: int
    depth: int
    code: CodeInfo


@dataclass
class FrameStep:
    step: int
    kind: str
    line: int
    locals: dict[str, str]
    value: str | None = None  # return value or exception


def find_call(tl: Timeline, tid: int, step: int, fid: int | None = None) -> Call:
    """The call a step belongs to (the step may be the call event or any step of its frame);
    with `fid`, the call of that frame (one of the step's callers)."""
    st = tl.step(tid, step)
    if fid is not None and fid != st.fid:
        for ts, k in navigate.walk(tl, tid, step, False, lambda ci: False):
            if ts.fids[k] == fid:
                step = ts.first + k
                st = tl.step(tid, step)
                break
        else:
            raise ReplayError("that frame is not in the recording")
    start = step
    if st.kind != E.CALL:
        start = None
        for ts, k in navigate.walk(tl, tid, step, False, navigate.deeper_than(tl, tid, st.depth)):
            if ts.fids[k] == st.fid and ts.kinds[k] == E.CALL:
                start = ts.first + k
                break
            if ts.depths[k] < st.depth:
                break
        if start is None:
            raise ReplayError("the call of this frame is not in the recording (it began before "
                              "the recording did)")
    end = start
    for ts, k in navigate.walk(tl, tid, start, True, navigate.deeper_than(tl, tid, st.depth)):
        if ts.depths[k] < st.depth:
            break
        if ts.fids[k] == st.fid:
            end = ts.first + k
            if ts.kinds[k] == E.RETURN:
                break
    return Call(tid, start, end, st.fid, st.depth, tl.code(st.code_id))


def frame_steps(tl: Timeline, call: Call) -> list[FrameStep]:
    """The events of the call's own frame, with its locals at each."""
    out = []
    for ts, k in navigate.walk(tl, call.tid, call.step - 1 if call.step > tl.first_step(call.tid)
                               else call.step, True, navigate.deeper_than(tl, call.tid, call.depth)):
        step = ts.first + k
        if step < call.step:
            continue
        if step > call.end:
            break
        if ts.fids[k] != call.fid:
            continue
        kind = ts.kinds[k]
        frame = tl.stack(call.tid, step)[0]
        value = None
        if kind in (E.RETURN, E.EXCEPTION):
            found = tl.event_value(call.tid, step)
            value = found[0] if found else None
        own = {k: v for k, v in frame.locals().items() if not k.startswith(globalvals.PREFIX)}
        out.append(FrameStep(step, _KINDS[kind], ts.lines[k], own, value))
    return out


def function_source(code: CodeInfo) -> tuple[str, str, int]:
    """(source of the def, dedented; the function's name; the def's line)."""
    try:
        with open(code.file, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ReplayError(f"cannot read {code.file}: {exc.strerror or exc}") from None
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == code.name:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            if first == code.firstlineno or node.lineno == code.firstlineno:
                lines = text.splitlines(True)[node.lineno - 1:node.end_lineno]
                return textwrap.dedent("".join(lines)), node.name, node.lineno
    raise ReplayError(f"the function {code.qualname} is no longer at line {code.firstlineno} of "
                      f"{code.file} (give its source)")


def _names_read(source: str) -> set[str]:
    """Names the function loads, and the globals it declares (``global X; X += 1`` reads X
    through a store: its value at the call is an input too)."""
    tree = ast.parse(source)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            } | {name for n in ast.walk(tree) if isinstance(n, ast.Global) for name in n.names}


def _literal(text: str, cut: bool = False) -> bool:
    value = evaluate.from_repr(text, cut)
    return not isinstance(value, (evaluate.Opaque, evaluate.Truncated))


def callee_results(tl: Timeline, call: Call) -> dict[str, list[str]]:
    """What the calls the frame made to recorded functions gave back, per name, in order, as
    expressions for the harness: the return value; for a class (its __init__ was recorded)
    the new instance; a raise when the exception came out of the call."""
    out: dict[str, list[str]] = {}
    raised: str | None = None
    for ts, k in navigate.walk(tl, call.tid, call.step, True, lambda ci: False):
        step = ts.first + k
        if step > call.end:
            break
        if ts.depths[k] != call.depth + 1:
            continue
        if ts.kinds[k] == E.CALL:
            raised = None
        elif ts.kinds[k] == E.EXCEPTION:
            found = tl.event_value(call.tid, step)
            raised = found[0] if found else "RuntimeError('recorded exception')"
        elif ts.kinds[k] == E.RETURN:
            code = tl.code(ts.codes[k])
            if raised is not None and step + 1 <= call.end and tl.step(
                    call.tid, step + 1).kind == E.EXCEPTION:
                out.setdefault(code.name, []).append(f"__devsandbox_raise__({raised!r})")
                continue
            if code.name == "__init__" and "." in code.qualname:
                self_text = tl.stack(call.tid, step)[0].locals().get("self", "None")
                out.setdefault(code.qualname.split(".")[-2], []).append(_as_value(self_text))
                continue
            found = tl.event_value(call.tid, step)
            out.setdefault(code.name, []).append(_as_value(found[0] if found else "None"))
    return out


def _as_value(text: str) -> str:
    return text if _literal(text) else f"__devsandbox_opaque__({text!r})"


def build_spec(tl: Timeline, call: Call, modifications: dict[str, Any]) -> dict[str, Any]:
    source = modifications.get("source")
    if source:
        tree = ast.parse(textwrap.dedent(source))
        defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if len(defs) != 1:
            raise ReplayError("'source' must hold exactly one function definition")
        try:
            line = function_source(call.code)[2]
        except ReplayError:
            line = call.code.firstlineno
        source, name = textwrap.dedent(source), defs[0].name
        line = max(1, line - (defs[0].lineno - 1))  # the def where the old one was
    else:
        source, name, line = function_source(call.code)
    frames = tl.stack(call.tid, call.step)
    frame = frames[0]
    module = next((f for f in reversed(frames) if f.code.qualname == "<module>"
                   and f.code.file == call.code.file), None)
    arguments, opaque_arguments = {}, {}
    own = {k: v for k, v in frame.locals().items() if not k.startswith(globalvals.PREFIX)}
    for arg, text in own.items():
        if _literal(text):
            arguments[arg] = text
        else:
            opaque_arguments[arg] = text
    for arg, expression in (modifications.get("arguments") or {}).items():
        opaque_arguments.pop(arg, None)
        arguments[arg] = str(expression)
    spec: dict[str, Any] = {"file": call.code.file, "firstlineno": line, "source": source,
                            "name": name, "arguments": arguments,
                            "opaque_arguments": opaque_arguments, "globals": {}, "opaque": {},
                            "stubs": {}, "modules": []}
    results = callee_results(tl, call)
    read = _names_read(source) - set(own)
    recorded = module.locals() if module is not None else {}
    # as they were at the call, not at the module frame's last line (see globalvals)
    recorded.update(globalvals.texts(tl, call.tid, call.step, call.code.file, read))
    for g in sorted(read & set(recorded)):
        text = recorded[g]
        if text.startswith(("<function ", "<class ")) or g in results:
            spec["stubs"][g] = results.get(g, [])
        elif text.startswith("<module "):
            spec["modules"].append(g)
        elif _literal(text):
            spec["globals"][g] = text
        else:
            spec["opaque"][g] = text
    for g in sorted((read & set(results)) - set(recorded)):
        spec["stubs"][g] = results[g]
    for g, expression in (modifications.get("globals") or {}).items():
        spec["opaque"].pop(g, None)
        spec["stubs"].pop(g, None)
        spec["globals"][g] = str(expression)
    return spec


def _norm(text: str | None) -> str | None:
    return None if text is None else _ADDRESS.sub("0x?", text)


def compare(old: list[FrameStep], new: list[FrameStep], modified: set[str]) -> dict[str, Any] | None:
    """The first divergence between two runs of one frame, or None (call events are left
    out: the arguments are in the first line's locals too)."""
    old = [s for s in old if s.kind != "call"]
    new = [s for s in new if s.kind != "call"]
    for i in range(max(len(old), len(new))):
        a = old[i] if i < len(old) else None
        b = new[i] if i < len(new) else None
        if a is None or b is None or (a.kind, a.line) != (b.kind, b.line):
            return {"kind": "control flow", "index": i, "recorded": _side(a), "replayed": _side(b),
                    "differences": []}
        prev_a = old[i - 1].locals if i else {}
        prev_b = new[i - 1].locals if i else {}
        diffs = []
        for name in sorted(set(a.locals) | set(b.locals)):
            va, vb = _norm(a.locals.get(name)), _norm(b.locals.get(name))
            if va == vb:
                continue
            was_equal = _norm(prev_a.get(name)) == _norm(prev_b.get(name))
            if i == 0 and name in modified:
                continue  # the modification itself
            if i > 0 and not was_equal:
                continue  # already different: a consequence seen before
            diffs.append({"name": name, "recorded": a.locals.get(name),
                          "replayed": b.locals.get(name)})
        if a.kind in ("return", "exception") and _norm(a.value) != _norm(b.value):
            diffs.append({"name": f"({a.kind})", "recorded": a.value, "replayed": b.value})
        if diffs:
            return {"kind": "value", "index": i, "recorded": _side(a), "replayed": _side(b),
                    "differences": diffs}
    return None


def _side(s: FrameStep | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"step": s.step, "kind": s.kind, "line": s.line, "locals": s.locals}


def harness_command(python: str, spec_path: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run the harness (the agent's side of the package)."""
    import os

    import devsandbox.recorder.format as fmt_module

    adapters_root = os.path.dirname(os.path.dirname(os.path.dirname(fmt_module.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = adapters_root
    env.pop("DEVSANDBOX_OPTIONS", None)
    return [python, "-m", "devsandbox.replaycall", spec_path], env


def report(tl: Timeline, call: Call, old: list[FrameStep], new_tl: Timeline | None,
           outcome: dict[str, Any], modified: set[str], new_path: str) -> dict[str, Any]:
    """The answer: the first divergence and both results."""
    new: list[FrameStep] = []
    if new_tl is not None and new_tl.thread_ids():
        tid = new_tl.thread_ids()[0]
        first = new_tl.first_step(tid)
        new_call = find_call(new_tl, tid, first)
        new = frame_steps(new_tl, new_call)
    recorded_result: dict[str, Any] = {}
    last = old[-1] if old else None
    if last is not None and last.kind == "return" and len(old) > 1 and old[-2].kind == "exception":
        recorded_result["exception"] = _exception_text(old[-2].value)
    elif last is not None and last.kind == "return":
        recorded_result["result"] = last.value
    else:
        recorded_result["unfinished"] = True
    return {"function": call.code.qualname, "file": call.code.file, "callStep": call.step,
            "threadId": call.tid, "divergence": compare(old, new, modified),
            "recordedResult": recorded_result, "replayedResult": outcome,
            "recordedSteps": len(old), "replayedSteps": len(new), "recording": new_path}


def _exception_text(text: str | None) -> str:
    """``ValueError('x')`` -> ``ValueError: x`` (the form the replayed outcome uses)."""
    if not text or "(" not in text or not text.endswith(")"):
        return text or ""
    name, inner = text.split("(", 1)
    inner = inner[:-1]
    try:
        value = ast.literal_eval(inner) if inner else ""
    except (ValueError, SyntaxError):
        value = inner
    return f"{name}: {value}"
