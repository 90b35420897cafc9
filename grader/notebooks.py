"""Reading nbgrader source notebooks: which cells are tests, answers, solutions."""
from __future__ import annotations

import json
from pathlib import Path

from . import stubs


def load(path: Path | str) -> dict:
    return json.loads(Path(path).read_text())


def source(cell) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test(cell) -> bool:
    """An autograded test cell: graded code that is not itself a student answer."""
    m = meta(cell)
    return cell.get("cell_type") == "code" and bool(m.get("grade")) and not m.get("solution")


def is_manual(cell) -> bool:
    m = meta(cell)
    return bool(m.get("grade")) and bool(m.get("solution"))


def test_points(nb) -> dict:
    """grade_id -> points of every autograded test cell, in notebook order."""
    return {meta(c)["grade_id"]: float(meta(c).get("points", 0)) for c in nb["cells"] if is_test(c)}


def manual_points(nb) -> dict:
    return {meta(c)["grade_id"]: float(meta(c).get("points", 0))
            for c in nb["cells"] if is_manual(c)}


def without_fences(text: str) -> str:
    """A solution cell as a student who got it right would leave it: the markers gone."""
    markers = {stubs.BEGIN, stubs.END}
    return "\n".join(line for line in text.splitlines() if line.strip() not in markers)
