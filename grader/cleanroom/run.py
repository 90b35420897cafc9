"""The notebook run: the submission's cells executed in a confined worker, in order, as a
kernel would -- the outputs instructors read and the notebook's own test results -- and a
worker with the definitions loaded whenever a check needs one after a crash.

A cell that runs past its time is interrupted and the run goes on, as in Jupyter. One that
crashes the worker costs that cell's outputs, and the run goes on after it, so the hand-graded
cells after a crash still have their outputs: the worker's last checkpoint (a paused copy of
it, taken before the first cell and again whenever CHECKPOINT_EVERY seconds of cells have run
since the last) takes over, runs again the few cells between the checkpoint and the crash, and
the run goes on. Where there is no checkpoint to resume (weak isolation), a new worker loads
the cells up to the crash (of that cell, every statement but the one that crashes). After the
run, a checkpoint holds the notebook's final state: a check that crashes the worker costs that
check, and the next one goes on from the checkpoint.
"""
from __future__ import annotations

from ..nncheck import cells
from ..sandbox.endpoint import Died, RemoteError, Timeout
from ..sandbox.session import Session

MAX_RESTARTS = 6
#: Seconds of cells run between checkpoints: a fork of the worker costs ~15 ms, and a crash
#: then costs at most this much of running cells again.
CHECKPOINT_EVERY = 0.5


def _left_out(unit, error):
    """What a reload leaves out after `unit` (cell,) or (cell, statement) hung or crashed."""
    if len(unit) > 1:
        return unit
    return unit[0] if isinstance(error, Timeout) else ("crashed", unit[0])


def _definition(cell) -> bool:
    """A code cell a reload runs: not a test, not an answer graded by hand."""
    return cell["cell_type"] == "code" and not cells.is_test(cell) \
        and not cells.is_manual(cell)


class NotebookRun:
    """One submission's workers, one at a time (`session`), on its clock and within its
    deadline. `skip` holds what a reload leaves out: the cells that hung (a hang costs its
    budget each time), ("crashed", cell) for a cell that crashed the worker, and (cell,
    statement) for the statement in it that crashes."""

    def __init__(self, grader, folder, graded, clock, deadline, hung):
        self.grader, self.folder, self.graded = grader, folder, graded
        self.nb = graded.notebook
        self.clock, self.deadline, self.hung = clock, deadline, hung
        self.skip = set()
        self.session = None
        self.since_checkpoint = []      # code cells run since the worker's last checkpoint
        self.unsaved = 0.0              # seconds they took

    def __enter__(self):
        self.session = self._new_session()
        self._checkpoint()
        return self

    def __exit__(self, *exc):
        self.session.close()

    @property
    def over(self) -> bool:
        return self.clock.now() > self.deadline

    def cell_budget(self):
        return min(self.grader.budget.cell, max(1.0, self.deadline - self.clock.now()))

    def check_budget(self, check_id):
        return min(self.grader.budget.for_check(check_id),
                   max(1.0, self.deadline - self.clock.now()))

    # -- workers ----------------------------------------------------------------------------
    def _new_session(self):
        grader = self.grader
        session = Session(grader.fork_server, self.folder, hide=grader.hide, limits=grader.limits,
                          timeout=grader.budget.check, restore=grader.released_modules,
                          leash=grader.budget.leash, gate=grader.gate, hung=self.hung,
                          clock=self.clock)
        events = [f"{link} is a symbolic link: links are never followed, it was ignored"
                  for link in session.dropped_links]
        events += [f"{name} was not submitted (or was a link): the released version, with "
                   "nothing implemented, was used" for name in session.restored]
        events += [f"{name} was ignored: compiled code and special files are never run (the "
                   "source files are what is graded)" for name in session.ignored]
        events += [f"{name} was saved as UTF-16/UTF-32; it was read as such (Python itself "
                   "reads only UTF-8: save it as UTF-8)" for name in session.transcoded]
        self.graded.events += [e for e in events if e not in self.graded.events]
        return session

    def alive(self):
        """The current worker; if it died, its checkpoint resumed, or a fresh worker with the
        definitions loaded."""
        if not self.session.alive and not self.session.resume():
            self.session.close()
            self.session = self._reloaded()
        return self.session

    def _checkpoint(self):
        if self.session.checkpoint():
            self.since_checkpoint, self.unsaved = [], 0.0

    def _units(self, indices):
        """What a reload runs of the cells `indices`: every definition cell not left out, a
        crashed cell a statement at a time without the statements that crash."""
        units = []
        for index in indices:
            cell = self.nb["cells"][index]
            if not _definition(cell) or index in self.skip:
                continue
            source = cells.source(cell)
            if ("crashed", index) not in self.skip:
                units.append(((index,), source))
                continue
            units += [((index, number), statement)
                      for number, statement in enumerate(cells.statements(source))
                      if (index, number) not in self.skip]
        return units

    def _reloaded(self, upto=None):
        """A new worker with the definitions loaded: an import that kills the process costs
        that import, not the imports and definitions around it."""
        indices = range(len(self.nb["cells"][:upto]))
        for _ in range(MAX_RESTARTS):
            session = self._new_session()
            if self._load(session, self._units(indices)):
                return session
            session.close()
        return self._new_session()

    def _load(self, session, units) -> bool:
        """Run `units` in `session`; False when one killed the worker (that unit is left out
        from now on)."""
        for unit, source in units:
            if self.over:
                return True
            try:
                session.request("run_cell", source=source, timeout=self.cell_budget())
            except (Timeout, Died) as error:
                what = f"notebook cell {unit[0]}" + \
                    (f", statement {unit[1] + 1}," if len(unit) > 1 else "")
                self.graded.events.append(f"{what} {error.student_message} while loading "
                                          "definitions; it is left out from now on")
                self.skip.add(_left_out(unit, error))
                if not getattr(error, "alive", False):
                    return False
            except RemoteError:
                continue
        return True

    # -- the run ----------------------------------------------------------------------------
    def through(self):
        """Every code cell in order, going on after a crash (at most MAX_RESTARTS times), then
        a checkpoint of the notebook's final state for the checks."""
        crashed, restarts = self._cells_from(0), 0
        while crashed is not None:
            index, what = crashed
            if restarts == MAX_RESTARTS:
                self.session.close()
                self.graded.events.append(f"notebook cell {index}: {what}; the cells after it "
                                          "were not run (too many crashes)")
                return
            restarts += 1
            if self._resumed(index):
                self.graded.events.append(f"notebook cell {index}: {what}; the process was "
                                          "restored to its state before the crash and the "
                                          "run went on")
            else:
                self.session.close()
                self.graded.events.append(f"notebook cell {index}: {what}; a new process "
                                          "loaded the cells up to it and the run went on")
                self.session = self._reloaded(upto=index + 1)
                self._checkpoint()
            crashed = self._cells_from(index + 1)
        self._checkpoint()

    def _resumed(self, crashed) -> bool:
        """The last checkpoint took over and ran again the cells between it and the crash (of
        the crashed cell, every statement but the one that crashes: a crash while doing so
        leaves that statement out too, and the checkpoint takes over again); then a new
        checkpoint holds that state."""
        again = list(self.since_checkpoint)
        for _ in range(MAX_RESTARTS):
            if not self.session.resume():
                return False
            if self._load(self.session, self._units(again)):
                self._checkpoint()
                return True
        return False

    def _cells_from(self, start):
        """Execute the code cells from `start` on. One that crashes the process ends this call:
        it returns (index, what happened); None when the run is over."""
        for index, cell in enumerate(self.nb["cells"]):
            if index < start or cell["cell_type"] != "code":
                continue
            if self.over:
                self.graded.events.append(f"notebook cell {index} and the cells after it were "
                                          "not run: the submission used up its time budget")
                return None
            if self.unsaved >= CHECKPOINT_EVERY:
                self._checkpoint()
            self.since_checkpoint.append(index)
            started = self.clock.now()
            try:
                result = self.session.request("run_cell", source=cells.source(cell),
                                              timeout=self.cell_budget())
            except (Timeout, Died) as error:
                crashed = self._stopped(index, cell, error)
                if crashed is not None:
                    return crashed
                continue
            except RemoteError as error:     # the cell runner itself was broken by the cell
                result = {"outputs": [{"output_type": "error", "ename": error.type_name,
                                       "evalue": str(error), "traceback": []}], "error": "x"}
            finally:
                self.unsaved += self.clock.now() - started
            self._ran(index, cell, result)
        return None

    def _stopped(self, index, cell, error):
        """A cell that ran past its time (interrupted: its outputs so far, and the run goes on)
        or crashed the worker (returns (index, what happened))."""
        what = f"this cell {error.student_message}"
        self.skip.add(_left_out((index,), error))
        if cells.is_test(cell):
            self.graded.in_kernel[cells.meta(cell)["grade_id"]] = False
        if not (getattr(error, "alive", False) and isinstance(error.value, dict)):
            cell["outputs"] = [{"output_type": "error", "ename": type(error).__name__,
                                "evalue": what, "traceback": []}]
            return index, what
        given = self.graded.outputs.cell(error.value.get("outputs"))
        stopped = next((o["evalue"] for o in given if o.get("ename") == "TimeLimitExceeded"), "")
        what += f" ({stopped})" if stopped else ""
        cell["outputs"] = [o for o in given if o["output_type"] != "error"] + [
            {"output_type": "error", "ename": "Timeout", "evalue": what, "traceback": []}]
        self.graded.events.append(f"notebook cell {index}: {what}; it was interrupted")
        return None

    def _ran(self, index, cell, result):
        """A cell's outputs (kept within bounds) and what its result says."""
        if not isinstance(result, dict):    # the worker's own code is the student's too
            result = {"outputs": [], "error": "MalformedResult"}
        cell["outputs"] = self.graded.outputs.cell(result.get("outputs"))
        if cells.is_test(cell):
            self.graded.in_kernel[cells.meta(cell)["grade_id"]] = result.get("error") is None
        elif result.get("error") and cells.meta(cell).get("locked"):
            # given code fails only because of the student's (an import of their module)
            error = next((o for o in cell["outputs"] if o["output_type"] == "error"), {})
            self.graded.events.append(
                f"the given cell {cells.meta(cell).get('grade_id', index)} raised "
                f"{error.get('ename', result['error'])}: {error.get('evalue', '')[:300]}")
