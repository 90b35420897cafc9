"""Student code that does not parse: found before anything runs, so that the cause of every
check that needed it is said once, first, instead of "X is not defined" on each."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from .. import course, notebooks
from ..nncheck import cells
from ..nncheck.cells import python_source


def defined_names(source: str) -> set:
    """The names a piece of code defines at top level (def, class, assignment, import); parsing
    executes nothing. Empty when it does not parse."""
    try:
        tree = cells.parse(python_source(source))
    except (SyntaxError, ValueError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in getattr(node, "targets", [getattr(node, "target", None)]):
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    return names


def syntax_error(source: str, filename: str = "<cell>") -> str | None:
    """'SyntaxError: <message> (line N)' when `source` does not parse, else None."""
    try:
        cells.parse(python_source(source) if filename == "<cell>" else source, filename)
    except SyntaxError as error:
        return f"{type(error).__name__}: {error.msg} (line {error.lineno})"
    except ValueError as error:           # a null byte
        return f"SyntaxError: {error}"
    return None


@dataclass(frozen=True)
class Unparsable:
    """Student code that does not parse: nothing in it ran, so what it should define is
    missing -- the cause of every check that needed it, said once."""
    where: str          # "the cell grad_xtx_solution (cell 5)", "layers.py"
    error: str          # "SyntaxError: '(' was never closed (line 9)"
    lost: frozenset     # the names the reference version defines there

    @property
    def event(self):
        return (f"{self.where} does not parse -- {self.error}: nothing in it ran, and the checks "
                "that need what it defines were not tested")

    def cause(self, check_id, name):
        return (f"{check_id}: not tested: {name} was never defined, because {self.where} does "
                "not parse (see what happened)")


class Parsing:
    """What the reference defines where (to name what a student's unparsable code lost), and
    what of a submission does not parse."""

    def __init__(self, assignment: course.Assignment):
        source = notebooks.load(assignment.source_dir / assignment.notebook)
        self.defines = {cells.meta(c).get("grade_id"): defined_names(
            notebooks.without_fences(cells.source(c)))
            for c in source["cells"] if c.get("cell_type") == "code"}
        self.module_defines = {name: defined_names((course.SOURCE_LAYERS / src).read_text())
                               for name, src in assignment.modules.items()}

    def unparsable(self, folder: Path, nb: dict) -> list[Unparsable]:
        """The student's code that does not parse: code cells other than tests (parsed, never
        run, here) and the submitted modules."""
        found = []
        for index, cell in enumerate(nb["cells"], 1):
            if cell.get("cell_type") != "code" or cells.is_test(cell):
                continue
            error = syntax_error(cells.source(cell))
            if error:
                grade_id = cells.meta(cell).get("grade_id")
                where = f"the cell {grade_id} (cell {index})" if grade_id else f"cell {index}"
                found.append(Unparsable(where, error, frozenset(self.defines.get(grade_id, ()))))
        for name, lost in self.module_defines.items():
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 10 * 2 ** 20:
                error = syntax_error(path.read_text(errors="replace"), name)
                if error:
                    found.append(Unparsable(name, error, frozenset(lost)))
        return found


def consequence(event: str, broken: list[Unparsable]) -> bool:
    """A given cell's error that only repeats a syntax error already reported: the module that
    does not parse, or a name it (or a cell that does not parse) should define."""
    if not event.startswith("the given cell "):
        return False
    for unit in broken:
        if unit.where.endswith(".py") and f"({unit.where}, line" in event:
            return True
        if any(f"name '{name}' is not defined" in event for name in unit.lost):
            return True
    return False
