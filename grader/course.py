"""The course: which assignments exist, which source modules each one ships, and which check
registries grade it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import notebooks

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS_DIR = ROOT / "assignments"
SOURCE_LAYERS = ROOT / "source_layers"
NNCHECK = Path(__file__).resolve().parent / "nncheck"
BUILD = ROOT / "build"
# Where every command looks when not given --course-dir: the class `grader demo` builds, and the
# one plain `nbgrader` and formgrader see from the repository root (nbgrader_config.py).
DEFAULT_COURSE = BUILD / "course"
EXCHANGE = BUILD / "exchange"


class UsageError(SystemExit):
    """Bad input (an unknown assignment, student or course directory, nothing to do): the CLI
    prints it as one line and exits 2, having created nothing."""


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    modules: dict = field(default_factory=dict)   # released filename -> source_layers file

    @property
    def source_dir(self) -> Path:
        return ASSIGNMENTS_DIR / self.id

    @property
    def notebook(self) -> str:
        return f"{self.id}.ipynb"


ASSIGNMENTS = {
    a.id: a for a in [
        Assignment("a1_matrix_calculus", "Matrix calculus"),
        Assignment("a2_backprop", "Backpropagation on computational graphs"),
        Assignment("a3_neural_network", "A fully-connected network from scratch",
                   {"layers.py": "layers.py"}),
    ]
}


def get(assignment_id: str) -> Assignment:
    try:
        return ASSIGNMENTS[assignment_id]
    except KeyError:
        raise UsageError(f"unknown assignment {assignment_id!r}; known: "
                         f"{', '.join(ASSIGNMENTS)}") from None


def checks_module(assignment: Assignment):
    """The public check registry (grader.nncheck.aN), the one the notebook's setup cell
    imports."""
    from .nncheck import registry
    return registry.checks_module(assignment.id, _source_notebook(assignment))


def hidden_module(assignment: Assignment):
    """The hidden tests' registry (grader.hidden.aN), named as the public one."""
    from .nncheck import registry
    return registry.checks_module(assignment.id, _source_notebook(assignment), "grader.hidden")


def _source_notebook(assignment: Assignment) -> dict:
    return notebooks.load(assignment.source_dir / assignment.notebook)


def available() -> list[Assignment]:
    """Assignments whose source notebook exists (authoring may be in progress)."""
    return [a for a in ASSIGNMENTS.values() if (a.source_dir / a.notebook).exists()]


def where(root) -> str:
    """How a message names a course directory: with the hint to point elsewhere when it is the
    default one."""
    root = Path(root)
    if root.resolve() == DEFAULT_COURSE.resolve():
        return f"{root} (the default course directory; --course-dir DIR for another)"
    return str(root)


def add_course_dir(parser):
    """The --course-dir option as the verbs take it."""
    parser.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE,
                        help=f"default: {DEFAULT_COURSE}")


def require_course(root, verb: str = "") -> Path:
    """The course directory `root`, which must hold a gradebook (a released class): checked
    before anything is written, so that a mistyped --course-dir creates nothing."""
    from .nbgrader_api import holds_gradebook     # where nbgrader_config.py puts it
    root = Path(root)
    if not holds_gradebook(root):
        what = "does not exist" if not root.exists() else "holds no course (no gradebook.db)"
        hint = ("run `grader demo` or `grader release` first" if root.resolve() ==
                DEFAULT_COURSE.resolve() else "check --course-dir")
        raise UsageError(f"{where(root)} {what}: {hint}")
    return root
