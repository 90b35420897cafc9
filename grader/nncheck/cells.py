"""Reading a notebook's cells the way nbgrader marks them, and points as people read them.

The one home of these helpers for the grader and for the students' bundle (nncheck ships in
every release, so check.py reads cells exactly as the grader does). A submitted notebook is
hostile: nothing here raises for a source or metadata of the wrong type.
"""
from __future__ import annotations

import ast
import threading

#: CPython 3.11 before 3.11.8 (gh-106905) can fail with "AST constructor recursion depth
#: mismatch" when threads parse at the same time: the grader parses in its pool's threads.
_PARSING = threading.Lock()


def source(cell) -> str:
    """The cell's text: notebooks store it as a string or as a list of lines; anything else (a
    damaged or forged cell) reads as no text."""
    text = cell.get("source")
    if isinstance(text, str):
        return text
    if isinstance(text, list):
        return "".join(part for part in text if isinstance(part, str))
    return ""


def meta(cell) -> dict:
    """The cell's nbgrader metadata ({} when it has none, or none that is a mapping)."""
    metadata = cell.get("metadata")
    found = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return found if isinstance(found, dict) else {}


def grade_id(cell) -> str | None:
    """The cell's grade id, if it has a usable one."""
    found = meta(cell).get("grade_id")
    return found if isinstance(found, str) and found else None


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
    """grade_id -> points of every cell graded by hand (written answers, plots)."""
    return {meta(c)["grade_id"]: float(meta(c).get("points", 0))
            for c in nb.get("cells", []) if is_manual(c) and meta(c).get("grade_id")}


def points_text(n) -> str:
    """A number of points as people write it: 1, 0.5, 31 (never 31.0)."""
    return f"{float(n):g}"


def parse(text: str, filename: str = "<unknown>") -> ast.Module:
    """ast.parse, one thread at a time (see _PARSING)."""
    with _PARSING:
        return ast.parse(text, filename)


def python_source(text: str) -> str:
    """A cell as Python, the way IPython reads it: its input transformers turn magics and shell
    lines into calls of get_ipython() and leave everything else alone (also a line starting
    with % or ! inside brackets). Parsing it executes nothing."""
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(text)


def statements(text: str) -> list[str]:
    """A cell's top-level statements, as Python (see `python_source`), in order; [] when it
    does not parse. A cell that crashes the interpreter is rerun a statement at a time, so
    that the one statement that crashes costs only itself."""
    try:
        code = python_source(text)
        tree = parse(code)
    except (SyntaxError, ValueError):
        return []
    lines = code.splitlines()
    spans = []
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        if spans and start <= spans[-1][1]:         # `a = 1; b = 2` share a line
            spans[-1][1] = max(spans[-1][1], node.end_lineno)
        else:
            spans.append([start, node.end_lineno])
    return ["\n".join(lines[a - 1:b]) for a, b in spans]
