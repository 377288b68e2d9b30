"""What the DAP requests, the command line and the code lens share: run (new or stored
experiments), list, get, delete, each against a Store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..errors import InvalidRequest
from . import model, report, runner
from .store import Store, summary

DEFAULT_CAPTURE = 10
DEFAULT_CAPTURE_TIMEOUT = 30.0


def chart_path(store: Store, ident: str) -> Path:
    return store.path(ident).with_suffix(".svg")


def experiment_for(store: Store, args: dict[str, Any]) -> model.Experiment:
    """A stored experiment (``id``; ``settings`` override its own), or a new one from the
    arguments (target, variants, inputs, injections, settings, name, file)."""
    if args.get("id") and not args.get("target"):
        exp = store.get(str(args["id"]))
        if args.get("settings"):
            exp.settings.update(model.settings_from(args["settings"]))
        if args.get("variants"):
            exp.variants = model._variants(args["variants"])
        if args.get("injections") is not None:
            exp.injections = model._injections(args["injections"])
        return exp
    return model.new(args, ident=str(args.get("id") or ""))


async def run(store: Store, args: dict[str, Any], *, agent_call: runner.AgentCall | None = None,
              cwd: str | None = None, python: str | None = None) -> dict[str, Any]:
    """Run (and unless ``save`` is false, store) an experiment; the answer of
    ``devsandbox/experiment.run``: {id, path, chart, report, text}."""
    exp = experiment_for(store, args)
    refresh = args.get("refresh") is True
    if exp.inputs.get("kind") == "live" and (refresh or not exp.inputs.get("calls")):
        if agent_call is None:
            raise InvalidRequest("a live capture needs a running program with the agent (a "
                                 "debug session, --pid, --session or --connect)")
        count = exp.inputs.get("count", DEFAULT_CAPTURE)
        timeout = exp.inputs.get("timeout", DEFAULT_CAPTURE_TIMEOUT)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 10_000:
            raise InvalidRequest("inputs 'count' must be an integer between 1 and 10000")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            raise InvalidRequest("inputs 'timeout' must be a positive number of seconds")
        await runner.capture_live(exp, agent_call, count, float(timeout))
    elif refresh:
        await asyncio.to_thread(runner.resolve_inputs, exp, refresh=True)
    result = await runner.run(exp, agent_call=agent_call, cwd=cwd, python=python)
    answer: dict[str, Any] = {"id": exp.id, "report": result, "text": report.text(result)}
    if args.get("save", True) is not False:
        answer["path"] = str(store.save(exp))
        chart = chart_path(store, exp.id)
        chart.write_text(report.svg(result), "utf-8")
        answer["chart"] = str(chart)
    if args.get("svg") is True:
        answer["svg"] = report.svg(result)
    return answer


def list_experiments(store: Store) -> dict[str, Any]:
    return {"directory": str(store.directory), "experiments": store.list()}


def get(store: Store, ident: str) -> dict[str, Any]:
    exp = store.get(ident)
    answer: dict[str, Any] = {"experiment": exp.to_json(), "summary": summary(exp),
                              "path": str(store.path(ident))}
    if exp.last is not None:
        answer["text"] = report.text(exp.last)
        chart = chart_path(store, ident)
        if chart.is_file():
            answer["chart"] = str(chart)
    return answer


def delete(store: Store, ident: str) -> dict[str, Any]:
    store.delete(ident)
    chart = chart_path(store, ident)
    if chart.exists():
        chart.unlink()
    return {"deleted": ident}
