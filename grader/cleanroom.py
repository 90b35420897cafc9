"""Grade one submission in the clean room.

1. Repair the notebook's structure against the release (grader.structure): what the student
   deleted, edited or reordered among the locked cells is restored and reported.
2. Run the notebook in a confined worker, cell by cell, as a kernel would: this gives the
   outputs instructors read and the notebook's own (in-kernel) test results.
3. Decide every autograded check here, in a process that never runs student code: the worker
   only answers calls (forward at grader-chosen inputs, the loss at grader-chosen weights);
   comparisons, numerical derivatives and accuracies are computed by the grader, the hidden
   checks with the reference. A hang is interrupted where it runs (the worker goes on, and the
   function that hung gets a short leash from then on); a crash or a memory bomb costs the check
   it hit, and the worker is restarted for the rest.
4. Where the notebook's own test passed but the clean-room check fails, flag the submission as
   possibly tampered; the clean-room result stands.
"""
from __future__ import annotations

import ast
import copy
import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import course, notebooks, structure
from .sandbox.endpoint import Died, RemoteError, Timeout
from .sandbox.session import Session, hidden_paths

MAX_RESTARTS = 6
SLOW_CHECKS = ("training", "two_layer_training", "factorize", "callback")


@dataclass(frozen=True)
class Budget:
    """Wall-clock limits (seconds). The reference's slowest cell takes ~6 s, its slowest check
    ~1 s: the defaults leave a wide margin and still bound what a loop can cost."""
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
    integrity: dict = field(default_factory=dict)  # check id -> evidence for the instructor


def statements(source: str) -> list[str]:
    """A cell's top-level statements, as Python (IPython's magics translated), in order; []
    when it does not parse. Parsing executes nothing."""
    from IPython.core.inputtransformer2 import TransformerManager
    try:
        code = TransformerManager().transform_cell(source)
        tree = ast.parse(code)
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


def _left_out(unit, error):
    """What a reload leaves out after `unit` (cell,) or (cell, statement) hung or crashed."""
    if len(unit) > 1:
        return unit
    return unit[0] if isinstance(error, Timeout) else ("crashed", unit[0])


def hidden_only(check_id, result):
    """What a student may read about a hidden test that failed where the public check passes:
    where their code raised, or which kind of case failed (shapes, never the values)."""
    raised, case = result.details.get("raised"), result.details.get("case")
    if raised:
        where = f" at {raised['where']}" if raised.get("where") else ""
        return (f"{check_id}: the hidden test (it runs more inputs than the public check) "
                f"stopped with {raised['type']} raised{where}"
                + (f", for {case}" if case else "")
                + "; the public check passes, so run your code on other inputs (other shapes, "
                  "a batch of one row) to find why")
    if case:
        return (f"{check_id}: the hidden test failed for {case}, a case the public check does "
                "not run; test your code on such inputs against the definition")
    return (f"{check_id}: the hidden test failed (it compares with the reference "
            "implementation on more inputs); the public check passes, so test your code "
            "on other inputs against the definition")


def hidden_module(assignment):
    return importlib.import_module(f"grader.hidden.{assignment.id.split('_', 1)[0]}")


def public_module(assignment):
    return importlib.import_module(f"grader.nncheck.{assignment.id.split('_', 1)[0]}")


class Grader:
    """Grades submissions of one assignment; one instance per thread of the pool."""

    def __init__(self, assignment: course.Assignment, release_nb: dict, zygote,
                 budget: Budget = Budget(), course_root=None, gate=None):
        self.assignment = assignment
        self.release_nb = release_nb
        self.zygote = zygote
        self.budget = budget
        self.gate = gate
        self.limits = {"memory": budget.memory, "cpu": int(budget.submission) + 60}
        self.tests = notebooks.test_points(release_nb)
        self.hidden = hidden_module(assignment)
        self.public = public_module(assignment)
        self.hide = hidden_paths([course_root] if course_root else [])
        released = Path(course_root) / "release" / assignment.id if course_root else None
        self.released_modules = {name: released / name for name in assignment.modules
                                 if released and (released / name).is_file()}

    # -- worker lifecycle -------------------------------------------------------------------
    def _session(self, folder, graded):
        session = Session(self.zygote, folder, hide=self.hide, limits=self.limits,
                          timeout=self.budget.check, restore=self.released_modules,
                          leash=self.budget.leash, gate=self.gate)
        events = [f"{link} is a symbolic link: links are never followed, it was ignored"
                  for link in session.dropped_links]
        events += [f"{name} was not submitted (or was a link): the released version, with "
                   "nothing implemented, was used" for name in session.restored]
        graded.events += [e for e in events if e not in graded.events]
        return session

    def _cell_budget(self, deadline):
        return min(self.budget.cell, max(1.0, deadline - time.monotonic()))

    def _fresh(self, folder, nb, graded, skip, deadline, upto=None):
        """A new worker with the definitions loaded: every code cell (before `upto`) but the
        tests, the hand-graded ones and those that hung (`skip` holds their index: a hang costs
        its budget each time). A cell that crashed the process is run a statement at a time,
        and the statement that crashes is left out from then on (`skip` holds ("crashed", cell)
        and (cell, statement)): an import that kills the process costs that import, not the
        imports and definitions around it."""
        for _ in range(MAX_RESTARTS):
            session = self._session(folder, graded)
            units = []
            for index, cell in enumerate(nb["cells"][:upto]):
                if cell["cell_type"] != "code" or index in skip or notebooks.is_test(cell) \
                        or notebooks.is_manual(cell):
                    continue
                source = notebooks.source(cell)
                if ("crashed", index) not in skip:
                    units.append(((index,), source))
                    continue
                units += [((index, number), statement)
                          for number, statement in enumerate(statements(source))
                          if (index, number) not in skip]
            failed = False
            for unit, source in units:
                if time.monotonic() > deadline:
                    return session
                try:
                    session.request("run_cell", source=source,
                                    timeout=self._cell_budget(deadline))
                except (Timeout, Died) as error:
                    what = f"notebook cell {unit[0]}" + \
                        (f", statement {unit[1] + 1}," if len(unit) > 1 else "")
                    graded.events.append(f"{what} {error.student_message} while loading "
                                         "definitions; it is left out from now on")
                    skip.add(_left_out(unit, error))
                    if getattr(error, "alive", False):
                        continue            # interrupted: the worker goes on
                    session.close()
                    failed = True
                    break
                except RemoteError:
                    continue
            if not failed:
                return session
        return self._session(folder, graded)

    # -- the notebook run -------------------------------------------------------------------
    def _run_notebook(self, session, nb, graded, skip, deadline, start=0):
        """Execute the code cells from `start` on, in order. A cell that runs past its time is
        interrupted and the notebook goes on, as in Jupyter. One that crashes the process ends
        this call: it returns (index, what happened) for `grade` to restart the worker and go
        on after it; None when the run is over. What a reload must leave out goes into `skip`."""
        for index, cell in enumerate(nb["cells"]):
            if index < start or cell["cell_type"] != "code":
                continue
            if time.monotonic() > deadline:
                graded.events.append(f"notebook cell {index} and the cells after it were not "
                                     "run: the submission used up its time budget")
                return None
            try:
                result = session.request("run_cell", source=notebooks.source(cell),
                                         timeout=self._cell_budget(deadline))
            except (Timeout, Died) as error:
                what = f"this cell {error.student_message}"
                skip.add(_left_out((index,), error))
                if notebooks.is_test(cell):
                    graded.in_kernel[notebooks.meta(cell)["grade_id"]] = False
                if not (getattr(error, "alive", False) and isinstance(error.value, dict)):
                    cell["outputs"] = [{"output_type": "error", "ename": type(error).__name__,
                                        "evalue": what, "traceback": []}]
                    return index, what
                outputs = [o for o in error.value.get("outputs", [])
                           if o.get("output_type") != "error"]
                stopped = next((o["evalue"] for o in error.value.get("outputs", [])
                                if o.get("ename") == "TimeLimitExceeded"), "")
                what += f" ({stopped})" if stopped else ""
                cell["outputs"] = outputs + [{"output_type": "error", "ename": "Timeout",
                                              "evalue": what, "traceback": []}]
                graded.events.append(f"notebook cell {index}: {what}; it was interrupted")
                continue
            except RemoteError as error:     # the cell runner itself was broken by the cell
                result = {"outputs": [{"output_type": "error", "ename": error.type_name,
                                       "evalue": str(error), "traceback": []}], "error": "x"}
            cell["outputs"] = result["outputs"]
            if notebooks.is_test(cell):
                graded.in_kernel[notebooks.meta(cell)["grade_id"]] = result["error"] is None
            elif result["error"] and notebooks.meta(cell).get("locked"):
                # given code fails only because of the student's (an import of their module)
                error = next((o for o in result["outputs"] if o["output_type"] == "error"), {})
                graded.events.append(
                    f"the given cell {notebooks.meta(cell).get('grade_id', index)} raised "
                    f"{error.get('ename', result['error'])}: {error.get('evalue', '')[:300]}")
        return None

    # -- the clean room ---------------------------------------------------------------------
    def grade(self, folder: Path) -> Graded:
        deadline = time.monotonic() + self.budget.submission
        nb, findings = structure.rebuild(Path(folder), self.assignment.notebook, self.release_nb)
        graded = Graded(nb, findings=findings)
        graded.events += [f.message for f in findings]
        graded.flags += [f"possibly tampered: {f.message}" for f in findings if f.suspicious]
        if nb is None:
            graded.scores = {c: (0.0, p) for c, p in self.tests.items()}
            return graded
        nb = graded.notebook = copy.deepcopy(nb)
        session = self._session(folder, graded)
        skip = set()
        try:
            crashed, restarts = self._run_notebook(session, nb, graded, skip, deadline), 0
            while crashed is not None:
                # a crash costs that cell's outputs: a new worker loads the cells up to it (of
                # that cell, every statement but the one that crashes) and the run goes on, so
                # the hand-graded cells after it still have their outputs
                index, what = crashed
                session.close()
                if restarts == MAX_RESTARTS:
                    graded.events.append(f"notebook cell {index}: {what}; the cells after it "
                                         "were not run (too many crashes)")
                    break
                restarts += 1
                graded.events.append(f"notebook cell {index}: {what}; a new process loaded "
                                     "the cells up to it and the run went on")
                session = self._fresh(folder, nb, graded, skip, deadline, upto=index + 1)
                crashed = self._run_notebook(session, nb, graded, skip, deadline, index + 1)
            for check_id, points in self.tests.items():
                if time.monotonic() > deadline:
                    graded.scores[check_id] = (0.0, points)
                    graded.public[check_id] = "not run: the submission used up its time budget"
                    continue
                if not session.alive:
                    session.close()
                    session = self._fresh(folder, nb, graded, skip, deadline)
                self._check(session, check_id, points, graded)
        finally:
            session.close()
        self._annotate(nb, graded)
        return graded

    def _check(self, session, check_id, points, graded):
        session.endpoint.default_timeout = self.budget.for_check(check_id)
        interrupts = session.interrupts
        try:
            namespace = session.namespace()
            result = self.hidden.evaluate(check_id, namespace)
        except (Timeout, Died) as error:
            graded.scores[check_id] = (0.0, points)
            graded.public[check_id] = graded.hidden[check_id] = \
                f"{check_id}: {error.student_message}"
            graded.events.append(f"{check_id}: {error.student_message}")
            return
        graded.scores[check_id] = (points if result.passed else 0.0, points)
        evidence = result.details.get("integrity")
        if evidence:
            # the course decides what it costs (grader.hidden.a3.NUMERICAL_BACKWARD); it is
            # never silent: the record, the report and the autograded notebook say it
            graded.flags.append(f"integrity: {check_id}: {evidence}")
            graded.integrity[check_id] = evidence
        if result.passed:
            return
        graded.hidden[check_id] = result.message
        if result.stopped or not session.alive or session.interrupts > interrupts:
            # the student's code crashed or hung inside the check: that, not a comparison with
            # the reference, is the reason, and saying so reveals nothing
            graded.public[check_id] = result.message
            graded.events.append(f"{check_id}: {result.message}")
            return
        public = self._public(session, check_id)
        graded.public[check_id] = public.message if public is not None and not public.passed \
            else hidden_only(check_id, result)
        if graded.in_kernel.get(check_id) and public is not None and not public.passed:
            graded.flags.append(f"possibly tampered: {check_id} passed inside the notebook but "
                                "fails the same public check run outside it")

    def _public(self, session, check_id):
        if not session.alive:
            return None
        try:
            return self.public.evaluate(check_id, session.namespace())
        except (Timeout, Died):
            return None

    def _annotate(self, nb, graded):
        """Test cells show the clean-room verdict (student-safe message), as nbgrader would."""
        for cell in nb["cells"]:
            if not notebooks.is_test(cell):
                continue
            check_id = notebooks.meta(cell)["grade_id"]
            score, maximum = graded.scores.get(check_id, (0.0, 0.0))
            outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
            if check_id in graded.integrity:        # for the staff who read this notebook
                outputs.append({"output_type": "stream", "name": "stdout",
                                "text": f"[integrity flag for the instructor] "
                                        f"{graded.integrity[check_id]}\n"})
            if score < maximum:
                outputs.append({"output_type": "error", "ename": "CheckFailed",
                                "evalue": graded.public.get(check_id, ""), "traceback": []})
            cell["outputs"] = outputs
