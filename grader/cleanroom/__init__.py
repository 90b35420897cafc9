"""Grade one submission in the clean room.

1. Prepare: repair the notebook's structure against the release (grader.structure) -- what the
   student deleted, edited or reordered among the locked cells is restored and reported -- make
   it safe to run, store and show (grader.sanitize), and find what does not parse (syntax.py).
2. Run the notebook in a confined worker, cell by cell, as a kernel would (run.py): the outputs
   instructors read and the notebook's own (in-kernel) test results.
3. Decide every autograded check here, in a process that never runs student code (decide.py):
   the worker only answers calls (forward at grader-chosen inputs, the loss at grader-chosen
   weights); comparisons, numerical derivatives and accuracies are computed by the grader, the
   hidden checks with the reference. A hang is interrupted where it runs (the worker goes on,
   and the function that hung gets a short leash from then on); a crash or a memory bomb costs
   the check it hit, and the worker is restarted for the rest.
4. Where the notebook's own test passed but the clean-room check fails, flag the submission as
   possibly tampered; the clean-room result stands.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import course, sanitize, structure
from ..nncheck import cells
from ..sandbox.endpoint import Leash
from ..sandbox.gate import Clock
from ..sandbox.session import hidden_paths
from .decide import Decisions, annotate
from .run import NotebookRun
from .syntax import Parsing, consequence

SLOW_CHECKS = ("training", "two_layer_training", "factorize", "callback")


@dataclass(frozen=True)
class Budget:
    """Time limits, in seconds of the submission's own time (sandbox.gate.Clock), and the
    memory of a worker. The reference's slowest cell takes ~6 s, its slowest check ~1 s: the
    defaults leave a wide margin and still bound what a loop can cost."""
    cell: float = 60.0
    check: float = 20.0
    slow_check: float = 120.0
    submission: float = 900.0
    memory: int = 3 * 2 ** 30

    @property
    def leash(self):
        """Seconds a student function that already ran into a limit gets per later call."""
        return max(2.0, self.check / 5)

    def for_check(self, check_id):
        return self.slow_check if check_id in SLOW_CHECKS else self.check


@dataclass
class Graded:
    """What the clean room decided for one submission."""
    notebook: dict | None                          # the repaired notebook, with outputs
    scores: dict = field(default_factory=dict)     # check id -> (points, max)
    public: dict = field(default_factory=dict)     # check id -> student-safe message
    hidden: dict = field(default_factory=dict)     # check id -> instructor-only message
    in_kernel: dict = field(default_factory=dict)  # check id -> passed inside the notebook
    events: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    outputs: sanitize.Outputs = field(default_factory=sanitize.Outputs)   # kept within bounds
    own_seconds: float = 0.0        # what it cost on its own clock (gate.Clock): the budget's
    integrity: dict = field(default_factory=dict)  # check id -> evidence for the instructor


def linked(folder: Path) -> Path | None:
    """The submission folder or the student's folder, if one is a symbolic link: a link to a
    classmate's folder would grade their work as the linker's."""
    return next((p for p in (folder, folder.parent) if p.is_symlink()), None)


class Grader:
    """Grades submissions of one assignment; one instance per thread of the pool."""

    def __init__(self, assignment: course.Assignment, release_nb: dict, fork_server,
                 budget: Budget = Budget(), course_root=None, gate=None):
        self.assignment = assignment
        self.release_nb = release_nb
        self.fork_server = fork_server
        self.budget = budget
        self.gate = gate
        self.limits = {"memory": budget.memory, "cpu": int(budget.submission) + 60}
        self.tests = cells.test_points(release_nb)
        self.hidden = course.hidden_module(assignment)
        self.public = course.checks_module(assignment)
        self.hide = hidden_paths([course_root] if course_root else [])
        released = Path(course_root) / "release" / assignment.id if course_root else None
        self.released_modules = {name: released / name for name in assignment.modules
                                 if released and (released / name).is_file()}
        self.parsing = Parsing(assignment)

    def grade(self, folder: Path) -> Graded:
        clock = Clock()             # time limits count the submission's own time
        started = clock.now()
        graded = self._prepare(Path(folder))
        if graded.notebook is None:
            graded.scores = {c: (0.0, p) for c, p in self.tests.items()}
            return graded
        broken = self.parsing.unparsable(folder, graded.notebook)
        graded.events = [u.event for u in broken] + graded.events   # the cause leads
        with NotebookRun(self, folder, graded, clock, started + self.budget.submission,
                         Leash(self.budget.leash)) as run:
            run.through()
            Decisions(self, graded, run, broken).all(self.tests)
        graded.events = [e for e in graded.events if not consequence(e, broken)]
        annotate(graded.notebook, graded)
        graded.own_seconds = clock.now() - started
        return graded

    def _prepare(self, folder: Path) -> Graded:
        """The notebook to run, rebuilt on the release and made safe (or None: nothing to
        grade), with what was found on the way."""
        link = linked(folder)
        if link is not None:
            nb, findings = None, [structure.finding(
                "linked_submission", f"the submission folder {link.name} is a symbolic link "
                f"(to {os.readlink(link)}); links are never followed, so there is nothing of "
                "this student's own to grade")]
        else:
            nb, findings = structure.rebuild(folder, self.assignment.notebook, self.release_nb)
        graded = Graded(nb, findings=findings)
        graded.events += [f.message for f in findings]
        graded.flags += [f"possibly tampered: {f.message}" for f in findings if f.suspicious]
        if nb is not None:
            graded.notebook = self._inert(nb, graded)
        return graded

    def _inert(self, nb, graded):
        """The rebuilt notebook as it may be run, stored and shown: valid Unicode, and every
        cell that is not the release's own bounded, its HTML inert (grader.sanitize)."""
        nb = sanitize.deep(copy.deepcopy(nb))
        given = {cells.source(c) for c in self.release_nb["cells"]}
        for index, cell in enumerate(nb["cells"]):
            if cells.source(cell) not in given:
                cell["source"], changed = sanitize.cell_source(cell)
                if changed:
                    graded.events.append(f"notebook cell {index}: {changed}")
        return nb
