"""Reading a notebook's cells the way nbgrader marks them, and points as people read them.

The one home of these helpers for the grader and for the students' bundle (nncheck ships in
every release, so check.py reads cells exactly as the grader does).
"""
from __future__ import annotations


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
    """A cell graded by hand: a graded answer (code or written)."""
    m = meta(cell)
    return bool(m.get("grade")) and bool(m.get("solution"))


def test_points(nb) -> dict:
    """grade_id -> points of every autograded test cell, in notebook order."""
    return {meta(c)["grade_id"]: float(meta(c).get("points", 0)) for c in nb.get("cells", [])
            if is_test(c) and meta(c).get("grade_id")}


def manual_points(nb) -> dict:
    return {meta(c)["grade_id"]: float(meta(c).get("points", 0))
            for c in nb.get("cells", []) if is_manual(c) and meta(c).get("grade_id")}


def points_text(n) -> str:
    """A number of points as people write it: 1, 0.5, 31 (never 31.0)."""
    return f"{float(n):g}"


def python_source(text: str) -> str:
    """A cell as Python, the way IPython reads it: its input transformers turn magics and shell
    lines into calls of get_ipython() and leave everything else alone (also a line starting
    with % or ! inside brackets). Parsing it executes nothing."""
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(text)
