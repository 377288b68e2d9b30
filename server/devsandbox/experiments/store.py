"""Experiments on disk: one readable JSON file each under ``<root>/.devsandbox/experiments/``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import InvalidRequest
from .model import Experiment

SUBDIR = os.path.join(".devsandbox", "experiments")


class Store:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.directory = self.root / SUBDIR

    def path(self, ident: str) -> Path:
        if not ident or "/" in ident or "\\" in ident or ident.startswith("."):
            raise InvalidRequest(f"{ident!r} is not an experiment id")
        return self.directory / f"{ident}.json"

    def save(self, exp: Experiment) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(exp.id)
        text = json.dumps(exp.to_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{exp.id}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return path

    def get(self, ident: str) -> Experiment:
        path = self.path(ident)
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise InvalidRequest(f"no experiment {ident!r} in {self.directory}") from None
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"cannot read {path}: {exc}") from None
        return Experiment.from_json(data)

    def delete(self, ident: str) -> bool:
        try:
            self.path(ident).unlink()
            return True
        except FileNotFoundError:
            raise InvalidRequest(f"no experiment {ident!r} in {self.directory}") from None

    def list(self) -> list[dict[str, Any]]:
        """A summary of each experiment, newest first."""
        out: list[dict[str, Any]] = []
        if not self.directory.is_dir():
            return out
        for path in self.directory.glob("*.json"):
            try:
                exp = Experiment.from_json(json.loads(path.read_text("utf-8")))
            except (OSError, ValueError, InvalidRequest):
                continue
            out.append(summary(exp))
        out.sort(key=lambda s: s["updated"], reverse=True)
        return out


def summary(exp: Experiment) -> dict[str, Any]:
    last = exp.last or {}
    rec = last.get("recommendation") or {}
    return {"id": exp.id, "name": exp.name, "target": exp.target, "file": exp.file,
            "variants": [v.name for v in exp.variants],
            "inputs": len(exp.inputs.get("calls") or []), "inputKind": exp.inputs.get("kind"),
            "runs": len(exp.runs), "created": exp.created, "updated": exp.updated,
            "lastStatus": last.get("status"), "winner": rec.get("winner")}
