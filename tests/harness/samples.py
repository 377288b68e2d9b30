"""Sample programs for tests: lines are found by their ``# @marker`` comments."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def sample(name: str) -> str:
    return str(SAMPLES / name)


def line(name: str, marker: str) -> int:
    """Line number (1-based) of the line tagged ``# @marker`` in sample ``name``."""
    for number, text in enumerate(Path(sample(name)).read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# @{marker}"):
            return number
    raise LookupError(f"no @{marker} in {name}")
