"""An experiment as stored under ``.devsandbox/experiments/<id>.json`` (readable JSON).

    {
      "id": "total-20240601-120000", "name": "...", "target": "app.util:total",
      "file": "/abs/app/util.py",                  # the target's module file, when known
      "variants": [{"name": "fast", "source": "def total(...): ..."}],
      "inputs": {"kind": "recording" | "explicit" | "live",
                 "recording": "/abs/run.dsrec",     # where recorded inputs came from
                 "calls": [{"id", "params" | "args"/"kwargs" | "pickle", "source", ...}],
                 "unreconstructed": [{"id", "reason", "source"}]},
      "injections": [{"kind": "mock" | "stub" | "spy", "target", "source" | "value"}],
      "settings": {"repeat": 30, "isolation": "subprocess", "timeout": 120, ...},
      "created": 1717236000.0, "updated": ..., "runs": [report, ...]   # newest last
    }
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InvalidRequest

KEEP_RUNS = 5
INPUT_KINDS = ("recording", "explicit", "live")
INJECTION_KINDS = ("mock", "stub", "spy")
ISOLATIONS = ("subprocess", "inprocess")
SAFETY_LEVELS = ("strict", "normal", "permissive")
# settings passed to the job as they are, with their types and bounds
SETTINGS: dict[str, tuple[type, float, float]] = {
    "repeat": (int, 1, 10_000), "minRounds": (int, 1, 10_000), "budget": (float, 0.01, 3600),
    "callTimeout": (float, 0.001, 3600), "timeout": (float, 0.1, 24 * 3600),
    "cpuSeconds": (int, 1, 24 * 3600), "memoryMb": (int, 16, 1 << 20),
}
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass
class Variant:
    name: str
    source: str


@dataclass
class Experiment:
    id: str
    name: str
    target: str
    variants: list[Variant]
    inputs: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    injections: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Experiment:
        if not isinstance(data, dict):
            raise InvalidRequest("an experiment must be a JSON object")
        exp = new(data, ident=str(data.get("id") or ""))
        exp.created = float(data.get("created") or exp.created)
        exp.updated = float(data.get("updated") or exp.updated)
        runs = data.get("runs")
        exp.runs = [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []
        return exp

    def job(self) -> dict[str, Any]:
        """The agent-side job (see devsandbox.agent.experiments.host)."""
        job: dict[str, Any] = {"target": self.target,
                               "variants": [asdict(v) for v in self.variants],
                               "inputs": list(self.inputs.get("calls") or []),
                               "injections": list(self.injections)}
        if self.file:
            job["file"] = self.file
        job.update({k: v for k, v in self.settings.items() if k in SETTINGS or k in (
            "isolation", "copyInputs", "memory")})
        job["safety"] = {"level": self.settings.get("safety", "normal"),
                         "force": self.settings.get("force") is True}
        return job

    def add_run(self, report: dict[str, Any]) -> None:
        self.runs.append(report)
        del self.runs[:-KEEP_RUNS]
        self.updated = time.time()
        if report.get("file") and not self.file:
            self.file = str(report["file"])

    @property
    def last(self) -> dict[str, Any] | None:
        return self.runs[-1] if self.runs else None


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:60] or "experiment"


def new_id(target: str) -> str:
    qualname = target.partition(":")[2] or target
    return f"{slug(qualname)}-{time.strftime('%Y%m%d-%H%M%S')}-{int(time.time() * 1000) % 1000:03d}"


def _variants(raw: Any) -> list[Variant]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidRequest("'variants' must be a list of {name, source}")
    out: list[Variant] = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            item = {"source": item}
        if not isinstance(item, dict) or not isinstance(item.get("source"), str):
            raise InvalidRequest(f"variant {i + 1} needs 'source' (the replacement's code)")
        name = str(item.get("name") or f"variant{i + 1}")
        if name == "baseline" or name in {v.name for v in out}:
            raise InvalidRequest(f"variant name {name!r} is taken (names must be unique and "
                                 "not 'baseline')")
        out.append(Variant(name, item["source"]))
    return out


def _injections(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidRequest("'injections' must be a list")
    for item in raw:
        if not isinstance(item, dict) or item.get("kind") not in INJECTION_KINDS or \
                not isinstance(item.get("target"), str) or not _TARGET.match(item["target"]):
            raise InvalidRequest(f"an injection needs 'kind' ({', '.join(INJECTION_KINDS)}) and "
                                 f"'target' (module:qualname): {item!r}")
        if item["kind"] == "mock" and not isinstance(item.get("source"), str):
            raise InvalidRequest(f"the mock of {item['target']} needs 'source'")
        if item["kind"] == "stub" and "value" not in item:
            raise InvalidRequest(f"the stub of {item['target']} needs 'value'")
    return [dict(item) for item in raw]


def settings_from(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequest("'settings' must be an object")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if key in SETTINGS:
            kind, low, high = SETTINGS[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not low <= value <= high or (kind is int and value != int(value)):
                raise InvalidRequest(f"'{key}' must be a{'n integer' if kind is int else ' number'}"
                                     f" between {low:g} and {high:g}")
            out[key] = kind(value)
        elif key == "isolation":
            if value not in ISOLATIONS:
                raise InvalidRequest(f"'isolation' must be one of {', '.join(ISOLATIONS)}")
            out[key] = value
        elif key in ("copyInputs", "memory", "force"):
            out[key] = bool(value)
        elif key == "safety":
            if value not in SAFETY_LEVELS:
                raise InvalidRequest(f"'safety' must be one of {', '.join(SAFETY_LEVELS)}")
            out[key] = value
        elif key in ("python", "cwd", "where"):
            out[key] = str(value)
        else:
            raise InvalidRequest(f"unknown setting {key!r}")
    return out


def new(data: dict[str, Any], ident: str = "") -> Experiment:
    """An experiment from request arguments (validated; inputs as given)."""
    target = data.get("target")
    if not isinstance(target, str) or not _TARGET.match(target.strip()):
        raise InvalidRequest("'target' must be module:qualname (for example app.util:parse)")
    target = target.strip()
    inputs = data.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise InvalidRequest("'inputs' must be an object")
    kind = inputs.get("kind", "recording" if inputs.get("recording") else "explicit")
    if kind not in INPUT_KINDS:
        raise InvalidRequest(f"inputs 'kind' must be one of {', '.join(INPUT_KINDS)}")
    inputs = dict(inputs, kind=kind)
    calls = inputs.get("calls")
    if calls is not None and (not isinstance(calls, list) or
                              not all(isinstance(c, dict) for c in calls)):
        raise InvalidRequest("inputs 'calls' must be a list of objects")
    if calls is not None:
        inputs["calls"] = [dict(c, id=str(c.get("id") or i + 1)) for i, c in enumerate(calls)]
    file = data.get("file")
    return Experiment(
        id=ident or new_id(target), name=str(data.get("name") or target), target=target,
        variants=_variants(data.get("variants")), inputs=inputs,
        file=str(file) if isinstance(file, str) and file else None,
        injections=_injections(data.get("injections")),
        settings=settings_from(data.get("settings")))
