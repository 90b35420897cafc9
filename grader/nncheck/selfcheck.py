"""The student self-check: run the public checks on your own code, task by task.

In the assignment folder (what the release bundle holds is all it needs):

    python check.py                      # every check of the notebook's test cells
    python check.py relu dense_forward   # only these
    python check.py --list               # the check ids, in notebook order

At the end of the notebook, after running its cells:

    from nncheck.selfcheck import report
    report(globals())

`check.py` runs the code cells of your notebook that you write or that are given (never the
test cells or the cells graded by hand, `nncheck.runcells`), with matplotlib drawing off
screen, then every public check. A failure says what is wrong and where: which layer or
function, which gradient, which entry, your value and the numerical one, and for well-known
mistakes a hint. The hidden tests that decide the grade run the same checks on more cases
(assignment 3: next to a reference implementation), so PASS here is necessary, not sufficient.
"""
from __future__ import annotations

import _thread
import argparse
import contextlib
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import cells, registry
from .progress import live, run_training
from .results import failed, student_place
from .runcells import run_cells

CHECK_SECONDS = 120.0           # a check of the reference takes a second, training a few


# -- running one check under a time limit ----------------------------------------------------

@contextlib.contextmanager
def _time_limit(seconds):
    """Interrupt the main thread after `seconds`, as Ctrl-C would (a KeyboardInterrupt where
    the code runs, on every platform and in a Jupyter kernel); yields a flag saying whether it
    was this limit. A KeyboardInterrupt of the student's own stays one."""
    fired = threading.Event()

    def stop():
        fired.set()
        _thread.interrupt_main()

    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield fired
        return
    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def _evaluate(module, check_id, namespace, stream, out_dir, seconds):
    """One check under its time limit: (result, png)."""
    task = module.CHECKS[check_id][0]
    try:
        with _time_limit(seconds) as fired:
            try:
                if check_id == "training":
                    return run_training(module, namespace, stream, out_dir)
                return module.evaluate(check_id, namespace), None
            except KeyboardInterrupt as interrupt:
                if not fired.is_set():
                    raise
                where = student_place(interrupt)
                return failed(check_id, f"{task} did not return within {seconds:g} s"
                                        + (f" (it was stopped at {where})" if where else "")
                                        + ": look for a loop that never ends",
                              stopped=True), None
    except KeyboardInterrupt:
        if fired.is_set():      # the limit fired just after the check returned
            return failed(check_id, f"{task} did not return within {seconds:g} s"), None
        raise


# -- points ------------------------------------------------------------------------------------

@dataclass
class Points:
    """The notebook's points as every tool reports them: autograded and graded by hand, each
    with its bonus part (the registry's BONUS ids)."""
    tests: dict                 # check id -> points (the test cells)
    manual: dict                # grade id -> points (the cells graded by hand)
    bonus: frozenset = frozenset()

    def split(self, ids, table):
        regular = sum(table[i] for i in ids if i in table and i not in self.bonus)
        extra = sum(table[i] for i in ids if i in table and i in self.bonus)
        return regular, extra

    @classmethod
    def of(cls, nb: dict, module=None):
        return cls(cells.test_points(nb), cells.manual_points(nb),
                   frozenset(getattr(module, "BONUS", ())))


def summary(points: Points, results) -> str:
    """'19 of 24 checks pass: 19 of 28 autograded points and 3 of 3 bonus points, if the
    hidden tests agree. Graded by hand: 7 points and 5 bonus points.'"""
    pts = cells.points_text
    ran = [r.name for r in results]
    won = [r.name for r in results if r.passed]
    earned, earned_bonus = points.split(won, points.tests)
    possible, possible_bonus = points.split(ran, points.tests)
    text = f"{len(won)} of {len(results)} checks pass"
    if possible or possible_bonus:
        text += f": {pts(earned)} of {pts(possible)} autograded points"
        if possible_bonus:
            text += f" + {pts(earned_bonus)} of {pts(possible_bonus)} bonus"
        text += ", if the hidden tests agree"
    text += "."
    hand, hand_bonus = points.split(points.manual, points.manual)
    if hand or hand_bonus:
        text += (f"\nGraded by hand (plots, experiments, written answers): {pts(hand)} points"
                 + (f" + {pts(hand_bonus)} bonus" if hand_bonus else "") + ".")
        total, total_bonus = points.split(points.tests, points.tests)
        text += (f"\nThe assignment: {pts(total + hand)} points"
                 + (f" + {pts(total_bonus + hand_bonus)} bonus" if total_bonus + hand_bonus
                    else "") + ".")
    return text


def _notebook_points(module) -> Points | None:
    """The points of the notebook next to us (report() in Jupyter runs in its folder)."""
    name = module.__name__.rsplit(".", 1)[-1]
    for path in sorted(Path.cwd().glob("*.ipynb")):
        try:
            nb = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if registry.module_name(nb) == name:
            return Points.of(nb, module)
    return None


def _points_of(points, module) -> Points:
    """report()'s `points` argument as Points: the notebook's next to us by default."""
    if points is None:
        return _notebook_points(module) or Points({}, {})
    if isinstance(points, dict):
        return Points(points, {}, frozenset(getattr(module, "BONUS", ())))
    return points


# -- the report --------------------------------------------------------------------------------

class Report(list):
    """report()'s CheckResults, in notebook order; shown in a notebook as nothing (report
    printed it all), elsewhere as one line."""

    def __init__(self, results, earned=0.0, possible=0.0):
        super().__init__(results)
        self.earned, self.possible = earned, possible

    def __repr__(self):
        passed = sum(1 for r in self if r.passed)
        return f"<{passed} of {len(self)} checks pass>"

    def _ipython_display_(self):
        pass


def _registry(namespace, module):
    """The registry report() runs: `module` (a module, or its name 'a3'), else the `check` the
    notebook's setup cell imported."""
    module = namespace.get("check") if module is None else module
    if isinstance(module, str):
        module = registry.checks_module(module)
    if not (hasattr(module, "CHECKS") and hasattr(module, "evaluate")):
        raise ValueError("no check registry: run the notebook's first cell "
                         "(`from nncheck import aN as check`) or pass module='aN'")
    return module


def report(namespace: dict, checks=None, module=None, points=None, out_dir=".",
           training: bool = True, stream=None, seconds: float | None = CHECK_SECONDS,
           not_checked: str = "") -> Report:
    """Run the public checks on `namespace` (the notebook's `globals()`) and print, per check,
    PASS or FAIL and for a failure what to fix. Returns the CheckResults, in notebook order.

    `checks` limits the run to some ids; `training=False` skips the slow training check;
    `points` (a Points, or {check id: points}) defaults to the notebook's next to it;
    `seconds` is each check's time limit; `not_checked` is why checks that miss a name were
    not checked (the setup cell failed): said once instead of once per check."""
    stream = stream or sys.stdout
    module = _registry(namespace, module)
    ids = list(checks or module.CHECKS)
    unknown = [i for i in ids if i not in module.CHECKS]
    if unknown:
        raise ValueError(f"unknown check id(s) {unknown}; known: {', '.join(module.CHECKS)}")
    points = _points_of(points, module)
    lines = _Lines(stream, module, ids, points)
    results, png, skipped = [], None, []
    for check_id in ids:
        if check_id == "training" and not training:
            lines.skip(check_id)
            continue
        lines.running(check_id)
        result, curves = _evaluate(module, check_id, namespace, stream, out_dir, seconds)
        lines.ran()
        png = png or curves
        results.append(result)
        if not_checked and not result.passed and "is not defined" in result.message:
            skipped.append(check_id)
        else:
            lines.result(check_id, result)
    _print_end(stream, module, points, results, skipped, not_checked, png)
    won = [r.name for r in results if r.passed]
    return Report(results, sum(points.split(won, points.tests)),
                  sum(points.split([r.name for r in results], points.tests)))


class _Lines:
    """report()'s line per check, in aligned columns: `  FAIL  relu  ReLU.backward  1 pt`."""

    def __init__(self, stream, module, ids, points: Points):
        self.stream, self.tasks, self.points = stream, module.CHECKS, points
        self.width = max(len(i) for i in ids) if ids else 0
        self.task_width = max(len(self.tasks[i][0]) for i in ids) if ids else 0
        self.live = live(stream)

    def skip(self, check_id):
        self.stream.write(f"  SKIP  {check_id:<{self.width}}  {self.tasks[check_id][0]}  "
                          "(--skip-training)\n")

    def running(self, check_id):
        """'running ...' while the check runs, where the line can be redrawn."""
        if self.live:
            self.stream.write(f"\r  ....  {check_id:<{self.width}}  {self.tasks[check_id][0]}  "
                              "running ...")
            self.stream.flush()

    def ran(self):
        if self.live:
            self.stream.write("\r" + " " * 79 + "\r")

    def result(self, check_id, result):
        write, task = self.stream.write, self.tasks[check_id][0]
        worth = (f"  {_points_text(self.points.tests[check_id])}"
                 if check_id in self.points.tests else "")
        bonus = " (bonus)" if check_id in self.points.bonus else ""
        mark = "PASS" if result.passed else "FAIL"
        write(f"  {mark}  {check_id:<{self.width}}  {task:<{self.task_width}}{worth}{bonus}"
              .rstrip() + "\n")
        if not result.passed:
            write(_indent(result.message, " " * 8) + "\n")
            if result.details.get("reproduce"):
                write("        to reproduce it in the notebook:\n"
                      + _indent(result.details["reproduce"], " " * 10) + "\n")
        elif check_id == "training":
            write(_indent(result.message, " " * 8) + "\n")
        if result.details.get("integrity"):
            write(_indent(f"note: {result.details['integrity']} (the course staff are told "
                          "when the grader sees this)", " " * 8) + "\n")
        self.stream.flush()


def _print_end(stream, module, points, results, skipped, not_checked, png):
    """What report() says after the checks: the points, what to fix, the curves."""
    if skipped:
        stream.write(f"  not checked ({not_checked}): {', '.join(skipped)}\n")
    stream.write("\n" + summary(points, results) + "\n")
    failed_ids = [r.name for r in results if not r.passed and r.name not in skipped]
    if failed_ids:
        tasks = list(dict.fromkeys(module.CHECKS[c][0] for c in failed_ids))
        stream.write(f"To fix: {', '.join(tasks)}.\n")
    if png is not None:
        stream.write(f"Accuracy curves of the training check: {png}\n")
        _show_inline(png)
    stream.flush()


def _show_inline(png):
    """In a notebook, display the curves too."""
    if "ipykernel" not in sys.modules:
        return
    try:
        from IPython.display import Image, display
        display(Image(filename=str(png)))
    except Exception:
        pass


def _points_text(n: float) -> str:
    return f"{cells.points_text(n)} pt" if n == 1 else f"{cells.points_text(n)} pts"


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# -- python check.py ---------------------------------------------------------------------------

def _parser(assignment: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python check.py", description=f"Self-check for {assignment}: runs the public "
        "checks of the notebook's test cells on your code and says what to fix.")
    parser.add_argument("checks", nargs="*", help="only these check ids (default: all)")
    parser.add_argument("--list", action="store_true", help="list the check ids and exit")
    parser.add_argument("--skip-training", action="store_true",
                        help="skip the training check (it takes the longest)")
    parser.add_argument("--verbose", action="store_true", help="show what the cells print")
    parser.add_argument("--notebook", type=Path, help="another copy of the notebook to check")
    parser.add_argument("--seconds", type=float, default=CHECK_SECONDS,
                        help=f"time limit of each check (default {CHECK_SECONDS:g} s)")
    return parser


def main(assignment: str, argv=None, folder=None, stream=None) -> int:
    """`python check.py`: run the notebook's cells, then the checks. Exit code 0 when every
    check passes, 1 when one fails, 2 when the notebook is missing or an id is unknown."""
    stream = stream or sys.stdout
    args = _parser(assignment).parse_args(argv)
    folder = Path(folder or os.getcwd())
    path = args.notebook or folder / f"{assignment}.ipynb"
    if not path.exists():
        stream.write(f"{path} not found: run check.py in the assignment folder, next to the "
                     "notebook (or pass --notebook PATH)\n")
        return 2
    nb = json.loads(path.read_text())
    module = registry.checks_module(assignment, nb)
    if args.list:
        for check_id, (task, _) in module.CHECKS.items():
            stream.write(f"{check_id}  ({task})\n")
        return 0
    unknown = [c for c in args.checks if c not in module.CHECKS]
    if unknown:
        stream.write(f"unknown check id(s): {', '.join(unknown)}; `python check.py --list` "
                     "shows them\n")
        return 2

    import matplotlib
    matplotlib.use("Agg")
    stream.write(f"Self-check of {path.name}: running your code cells (not the test cells or "
                 "the cells graded by hand) ...\n")
    started = time.perf_counter()
    namespace, errors = run_cells(nb, quiet=not args.verbose, progress=stream, name=path.name)
    stream.write(f"  ran the notebook's code in {time.perf_counter() - started:.1f} s\n")
    setup = _print_cell_errors(stream, errors)
    stream.write(f"\nPublic checks ({module.__name__.rsplit('.', 1)[-1]}):\n")
    results = report(namespace, args.checks or None, module, Points.of(nb, module),
                     out_dir=folder, training=not args.skip_training, stream=stream,
                     seconds=args.seconds,
                     not_checked="the setup cell failed, see above" if setup else "")
    stream.write(f"({time.perf_counter() - started:.1f} s in all)\n")
    return 0 if all(results) and not errors else 1


def _print_cell_errors(stream, errors):
    """One line per cell that raised; after a failed setup cell, a later cell's NameError is
    its consequence: said once. Returns the setup cell's error, if any."""
    setup = next((e for e in errors if e.grade_id == "setup"), None)
    knock_ons = [e for e in errors if setup is not None and e is not setup
                 and e.error.startswith("NameError")]
    for error in errors:
        if error in knock_ons:
            continue
        where = " -- the setup cell: fix this first" if error is setup else ""
        stream.write(f"  ! {error}{where}\n")
    if knock_ons:
        stream.write(f"  ! {len(knock_ons)} later cell{'s' if len(knock_ons) > 1 else ''} "
                     "could not run without what the setup cell imports ("
                     + ", ".join(e.label.removeprefix("the cell starting ")
                                 for e in knock_ons[:3])
                     + (", ..." if len(knock_ons) > 3 else "") + ")\n")
    return setup
