"""The course: which assignments exist and which source modules each one ships."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS_DIR = ROOT / "assignments"
SOURCE_LAYERS = ROOT / "source_layers"
NNCHECK = Path(__file__).resolve().parent / "nncheck"
BUILD = ROOT / "build"


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
        raise SystemExit(f"unknown assignment {assignment_id!r}; known: "
                         f"{', '.join(ASSIGNMENTS)}") from None


def available() -> list[Assignment]:
    """Assignments whose source notebook exists (authoring may be in progress)."""
    return [a for a in ASSIGNMENTS.values() if (a.source_dir / a.notebook).exists()]
