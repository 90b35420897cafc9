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
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import course, notebooks, sanitize, structure
from .course import checks_module as public_module, hidden_module
from .nncheck import cells
from .nncheck.cells import python_source as _python, statements
from .sandbox.endpoint import Died, Leash, RemoteError, Timeout
from .sandbox.gate import Clock
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
    outputs: sanitize.Outputs = field(default_factory=sanitize.Outputs)   # kept within bounds
    own_seconds: float = 0.0        # what it cost on its own clock (gate.Clock): the budget's
    integrity: dict = field(default_factory=dict)  # check id -> evidence for the instructor


def defined_names(source: str) -> set:
    """The names a piece of code defines at top level (def, class, assignment, import); parsing
    executes nothing. Empty when it does not parse."""
    try:
        tree = ast.parse(_python(source))
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
        ast.parse(_python(source) if filename == "<cell>" else source, filename)
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


class _Watched:
    """The student's namespace as a check sees it, noting each name asked for and missing."""

    def __init__(self, namespace):
        self._namespace, self.missing = namespace, []

    def __contains__(self, name):
        found = name in self._namespace
        if not found and name not in self.missing:
            self.missing.append(name)
        return found

    def __getitem__(self, name):
        if name not in self:
            raise KeyError(name)
        return self._namespace[name]

    def get(self, name, default=None):
        return self[name] if name in self else default

    def __getattr__(self, attribute):
        return getattr(self._namespace, attribute)


def _left_out(unit, error):
    """What a reload leaves out after `unit` (cell,) or (cell, statement) hung or crashed."""
    if len(unit) > 1:
        return unit
    return unit[0] if isinstance(error, Timeout) else ("crashed", unit[0])


def linked(folder: Path) -> Path | None:
    """The submission folder or the student's folder, if one is a symbolic link: a link to a
    classmate's folder would grade their work as the linker's."""
    return next((p for p in (folder, folder.parent) if p.is_symlink()), None)


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
        self.tests = cells.test_points(release_nb)
        self.hidden = hidden_module(assignment)
        self.public = public_module(assignment)
        self.hide = hidden_paths([course_root] if course_root else [])
        released = Path(course_root) / "release" / assignment.id if course_root else None
        self.released_modules = {name: released / name for name in assignment.modules
                                 if released and (released / name).is_file()}
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

    # -- worker lifecycle -------------------------------------------------------------------
    def _session(self, folder, graded):
        session = Session(self.zygote, folder, hide=self.hide, limits=self.limits,
                          timeout=self.budget.check, restore=self.released_modules,
                          leash=self.budget.leash, gate=self.gate, hung=self.hung,
                          clock=self.clock)
        events = [f"{link} is a symbolic link: links are never followed, it was ignored"
                  for link in session.dropped_links]
        events += [f"{name} was not submitted (or was a link): the released version, with "
                   "nothing implemented, was used" for name in session.restored]
        events += [f"{name} was ignored: compiled code and special files are never run (the "
                   "source files are what is graded)" for name in session.ignored]
        events += [f"{name} was saved as UTF-16/UTF-32; it was read as such (Python itself "
                   "reads only UTF-8: save it as UTF-8)" for name in session.transcoded]
        graded.events += [e for e in events if e not in graded.events]
        return session

    def _cell_budget(self, deadline):
        return min(self.budget.cell, max(1.0, deadline - self.clock.now()))

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
                if cell["cell_type"] != "code" or index in skip or cells.is_test(cell) \
                        or cells.is_manual(cell):
                    continue
                source = cells.source(cell)
                if ("crashed", index) not in skip:
                    units.append(((index,), source))
                    continue
                units += [((index, number), statement)
                          for number, statement in enumerate(statements(source))
                          if (index, number) not in skip]
            failed = False
            for unit, source in units:
                if self.clock.now() > deadline:
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
            if self.clock.now() > deadline:
                graded.events.append(f"notebook cell {index} and the cells after it were not "
                                     "run: the submission used up its time budget")
                return None
            try:
                result = session.request("run_cell", source=cells.source(cell),
                                         timeout=self._cell_budget(deadline))
            except (Timeout, Died) as error:
                what = f"this cell {error.student_message}"
                skip.add(_left_out((index,), error))
                if cells.is_test(cell):
                    graded.in_kernel[cells.meta(cell)["grade_id"]] = False
                if not (getattr(error, "alive", False) and isinstance(error.value, dict)):
                    cell["outputs"] = [{"output_type": "error", "ename": type(error).__name__,
                                        "evalue": what, "traceback": []}]
                    return index, what
                given = graded.outputs.cell(error.value.get("outputs"))
                outputs = [o for o in given if o["output_type"] != "error"]
                stopped = next((o["evalue"] for o in given
                                if o.get("ename") == "TimeLimitExceeded"), "")
                what += f" ({stopped})" if stopped else ""
                cell["outputs"] = outputs + [{"output_type": "error", "ename": "Timeout",
                                              "evalue": what, "traceback": []}]
                graded.events.append(f"notebook cell {index}: {what}; it was interrupted")
                continue
            except RemoteError as error:     # the cell runner itself was broken by the cell
                result = {"outputs": [{"output_type": "error", "ename": error.type_name,
                                       "evalue": str(error), "traceback": []}], "error": "x"}
            if not isinstance(result, dict):    # the worker's own code is the student's too
                result = {"outputs": [], "error": "MalformedResult"}
            cell["outputs"] = graded.outputs.cell(result.get("outputs"))
            result["outputs"] = cell["outputs"]
            if cells.is_test(cell):
                graded.in_kernel[cells.meta(cell)["grade_id"]] = result.get("error") is None
            elif result.get("error") and cells.meta(cell).get("locked"):
                # given code fails only because of the student's (an import of their module)
                error = next((o for o in result["outputs"] if o["output_type"] == "error"), {})
                graded.events.append(
                    f"the given cell {cells.meta(cell).get('grade_id', index)} raised "
                    f"{error.get('ename', result['error'])}: {error.get('evalue', '')[:300]}")
        return None

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

    # -- the clean room ---------------------------------------------------------------------
    def grade(self, folder: Path) -> Graded:
        self.clock = Clock()            # time limits count the submission's own time
        started = self.clock.now()
        deadline = started + self.budget.submission
        self.hung = Leash(self.budget.leash)
        link = linked(Path(folder))
        if link is not None:
            nb, findings = None, [structure.Finding(
                "linked_submission", None, f"the submission folder {link.name} is a symbolic "
                f"link (to {os.readlink(link)}); links are never followed, so there is nothing "
                "of this student's own to grade", True)]
        else:
            nb, findings = structure.rebuild(Path(folder), self.assignment.notebook,
                                             self.release_nb)
        graded = Graded(nb, findings=findings)
        graded.events += [f.message for f in findings]
        graded.flags += [f"possibly tampered: {f.message}" for f in findings if f.suspicious]
        if nb is None:
            graded.scores = {c: (0.0, p) for c, p in self.tests.items()}
            return graded
        nb = graded.notebook = self._inert(nb, graded)
        self.broken = self.unparsable(folder, nb)
        graded.events = [u.event for u in self.broken] + graded.events   # the cause leads
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
                if self.clock.now() > deadline:
                    graded.scores[check_id] = (0.0, points)
                    graded.public[check_id] = "not run: the submission used up its time budget"
                    continue
                if not session.alive:
                    session.close()
                    session = self._fresh(folder, nb, graded, skip, deadline)
                self._check(session, check_id, points, graded, deadline)
        finally:
            session.close()
        graded.events = [e for e in graded.events if not self._consequence(e)]
        self._annotate(nb, graded)
        graded.own_seconds = self.clock.now() - started
        return graded

    def _consequence(self, event: str) -> bool:
        """A given cell's error that only repeats a syntax error already reported: the module
        that does not parse, or a name it (or a cell that does not parse) should define."""
        if not event.startswith("the given cell "):
            return False
        for broken in self.broken:
            if broken.where.endswith(".py") and f"({broken.where}, line" in event:
                return True
            if any(f"name '{name}' is not defined" in event for name in broken.lost):
                return True
        return False

    def _check(self, session, check_id, points, graded, deadline):
        session.endpoint.default_timeout = min(self.budget.for_check(check_id),
                                               max(1.0, deadline - self.clock.now()))
        interrupts = session.interrupts
        try:
            namespace = _Watched(session.namespace())
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
        cause = next(((u, name) for name in namespace.missing for u in self.broken
                      if name in u.lost), None)
        if cause is not None:
            graded.public[check_id] = graded.hidden[check_id] = cause[0].cause(check_id, cause[1])
            return
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
            if not cells.is_test(cell):
                continue
            check_id = cells.meta(cell)["grade_id"]
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
