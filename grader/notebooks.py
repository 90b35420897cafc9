"""Reading nbgrader source notebooks from disk (a cell's parts: `grader.nncheck.cells`)."""
from __future__ import annotations

import json
from pathlib import Path

from . import stubs


def load(path: Path | str) -> dict:
    return json.loads(Path(path).read_text())


def without_fences(text: str) -> str:
    """A solution cell as a student who got it right would leave it: the markers gone."""
    markers = {stubs.BEGIN, stubs.END}
    return "\n".join(line for line in text.splitlines() if line.strip() not in markers)
