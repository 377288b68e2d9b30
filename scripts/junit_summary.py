"""Print per-file and total test counts from pytest's JUnit XML files.

The last line has the plain form "total: N passed, N failed, N skipped".
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(path: Path) -> tuple[int, int, int]:
    passed = failed = skipped = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            failed += 1
        elif "skipped" in tags:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(paths: list[str]) -> int:
    total = [0, 0, 0]
    for name in paths:
        path = Path(name)
        if not path.exists():
            print(f"Python {path.stem}: no results (the run did not finish)")
            continue
        p, f, s = counts(path)
        print(f"Python {path.stem}: {p} passed, {f} failed, {s} skipped")
        total = [total[0] + p, total[1] + f, total[2] + s]
    print(f"total: {total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
