"""The student self-check: run the public checks on your own code, task by task.

In the assignment folder (what the release bundle holds is all it needs):

    python check.py                      # every check of the notebook's test cells
    python check.py relu dense_forward   # only these
    python check.py --list               # the check ids, in notebook order

At the end of the notebook, after running its cells:

    from nncheck.selfcheck import report
    report(globals())

`check.py` runs the code cells of your notebook that you write or that are given (never the
test cells or the cells graded by hand), with matplotlib drawing off screen, then every public
check. A failure says what is wrong and where: which layer or function, which gradient, which
entry, your value and the numerical one, and for well-known mistakes a hint. The hidden tests
that decide the grade run the same checks on more cases (assignment 3: next to a reference
implementation), so PASS here is necessary, not sufficient.
"""
from __future__ import annotations

import _thread
import argparse
import contextlib
import copy
import importlib
import io
import json
import linecache
import os
import re
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .results import failed, student_place

CURVES_FILE = "accuracy_curves.png"
_CHECK_IMPORT = re.compile(r"from\s+nncheck\s+import\s+(\w+)\s+as\s+check")
#: Cell magics whose body is Python and runs as such here (timing and capturing only).
_PYTHON_CELL_MAGICS = ("time", "timeit", "capture")


# -- the notebook --------------------------------------------------------------------------

def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _text(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def runs_in_selfcheck(cell) -> bool:
    """Code the student writes or is given. Graded cells are left out: the test cells (the
    checks run below instead) and the code cells graded by hand (plots, experiments)."""
    return cell.get("cell_type") == "code" and not _meta(cell).get("grade")


def python_source(text: str) -> str:
    """The cell as Python, the way IPython reads it: its input transformers turn magics and
    shell lines into calls of get_ipython() (`_Shell` below answers them), and leave
    everything else alone, also a line that starts with % or ! inside brackets."""
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(text)


class _Shell:
    """What `get_ipython()` is while check.py runs the cells: line magics do nothing (no
    matplotlib backend to switch, no extension to load), shell commands are not run, cell
    magics that only time or capture run their Python body; other cell magics (%%bash, ...)
    are skipped."""

    def __init__(self, namespace):
        self.namespace = namespace

    def run_line_magic(self, name, line, *args, **kwargs):
        if name in ("time", "timeit") and line.strip():
            exec(compile(line, "<magic>", "exec"), self.namespace)

    def run_cell_magic(self, name, line, cell, *args, **kwargs):
        if name in _PYTHON_CELL_MAGICS:
            exec(compile(cell, "<magic>", "exec"), self.namespace)

    def system(self, *args, **kwargs):
        return None

    def getoutput(self, *args, **kwargs):
        return []

    def __getattr__(self, name):            # anything else a cell asks of IPython: a no-op
        return lambda *args, **kwargs: None


def cell_label(text: str) -> str:
    """A cell as a student finds it in Jupyter, which shows no cell numbers: its first line."""
    first = next((line.strip() for line in text.splitlines() if line.strip()
                  and not line.lstrip().startswith("#")), "")
    return f"the cell starting {first[:60]!r}" if first else "an empty cell"


def test_points(nb: dict) -> dict:
    """check id (the test cell's grade_id) -> points, from the notebook's nbgrader metadata."""
    return {_meta(c)["grade_id"]: float(_meta(c).get("points", 0)) for c in nb.get("cells", [])
            if c.get("cell_type") == "code" and _meta(c).get("grade")
            and not _meta(c).get("solution") and _meta(c).get("grade_id")}


def check_module_name(nb: dict) -> str | None:
    """'a3' from the setup cell's `from nncheck import a3 as check`."""
    for cell in nb.get("cells", []):
        found = _CHECK_IMPORT.search(_text(cell))
        if found:
            return found.group(1)
    return None


@dataclass
class CellError:
    cell: int           # position in the notebook, 1-based (for tools; not shown)
    grade_id: str
    label: str          # how the student finds it: "the cell starting 'def encode(labels):'"
    error: str          # "NameError: name 'x' is not defined (line 3)"

    def __str__(self):
        return f"{self.label} raised {self.error}"


@contextlib.contextmanager
def _modules(aliases: dict | None):
    """Temporarily make `import name` return the given modules."""
    aliases = aliases or {}
    saved = {name: sys.modules.get(name) for name in aliases}
    sys.modules.update(aliases)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _close_figures():
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


def run_cells(notebook, namespace: dict | None = None, modules: dict | None = None,
              quiet: bool = True, progress=None, name: str | None = None):
    """Execute the notebook's self-check cells (see `runs_in_selfcheck`) in order, in one
    namespace, as Jupyter would; a cell that raises is recorded and the next one runs anyway.

    `notebook` is a path or a loaded notebook; `modules` maps module names to module objects
    that `import` must find while the cells run (the grader uses it to run a notebook against
    the reference or the stubs); `quiet` swallows what the cells print; `progress` (a stream)
    gets one status line per cell. Returns (namespace, [CellError]).
    """
    if isinstance(notebook, (str, Path)):
        name = name or Path(notebook).name
        notebook = json.loads(Path(notebook).read_text())
    name = name or "notebook"
    namespace = {} if namespace is None else namespace
    namespace.setdefault("__name__", "__main__")
    namespace.setdefault("__builtins__", __builtins__)
    errors: list[CellError] = []
    namespace.setdefault("get_ipython", lambda: shell)
    shell = _Shell(namespace)
    cells = [(i, c) for i, c in enumerate(notebook.get("cells", []), 1) if runs_in_selfcheck(c)]
    sink = io.StringIO()
    live = progress is not None and _live(progress)
    with _modules(modules), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for done, (index, cell) in enumerate(cells, 1):
            text = _text(cell)
            if live:
                progress.write(f"\r  running cell {done}/{len(cells)} of {name} ... ")
                progress.flush()
            code = python_source(text)
            filename = f"<notebook cell {index}>"
            # under that name tracebacks and the checks' messages find the cell's first line
            linecache.cache[filename] = (len(code), None, text.splitlines(True), filename)
            try:
                compiled = compile(code, filename, "exec")
                with contextlib.ExitStack() as stack:
                    if quiet:
                        stack.enter_context(contextlib.redirect_stdout(sink))
                        stack.enter_context(contextlib.redirect_stderr(sink))
                    exec(compiled, namespace)
            except (Exception, SystemExit) as error:  # the student's code may raise anything
                errors.append(CellError(index, _meta(cell).get("grade_id", ""),
                                        cell_label(text), _describe(error, filename)))
            finally:
                _close_figures()
                sink.seek(0)
                sink.truncate()
    if live:
        progress.write("\r" + " " * 79 + "\r")
        progress.flush()
    return namespace, errors


def _describe(error: BaseException, filename: str) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, SyntaxError) and error.filename == filename:
        return f"{type(error).__name__}: {error.msg} (line {error.lineno})"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == filename]
    return f"{text} (line {frames[-1].lineno})" if frames else text


# -- running the checks --------------------------------------------------------------------

def _live(stream) -> bool:
    """Whether `\\r` redraws a line: a terminal, or a Jupyter output area."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


class ProgressBar:
    """A one-line text progress bar: `training [#######.............]  35% 140/400`.

    Redrawn in place on a terminal or in Jupyter; in a log (a pipe, CI) one line per tenth.
    Nothing is drawn before the first tick."""

    def __init__(self, total: int, stream, label: str = "", width: int = 30):
        self.total, self.stream, self.label, self.width = max(int(total), 1), stream, label, width
        self.count, self._shown, self._last = 0, -1, 0.0
        self.live = _live(stream)

    def update(self, note: str = ""):
        self.count += 1
        share = min(self.count / self.total, 1.0)
        step = int(share * 100) if self.live else int(share * 10)
        now = time.monotonic()
        if step != self._shown and (not self.live or now - self._last > 0.1):
            self._shown, self._last = step, now
            filled = int(share * self.width)
            line = (f"  {self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                    f"{share:4.0%} {min(self.count, self.total)}/{self.total} {note}")
            self.stream.write(f"\r{line.ljust(79)}" if self.live else line + "\n")
            self.stream.flush()

    def close(self, note: str = ""):
        if not self.count:
            return
        line = f"  {self.label} done: {note}"
        self.stream.write((f"\r{line.ljust(79)}" if self.live else line) + "\n")
        self.stream.flush()


def _training_module():
    """The public training module (its accuracy, unflatten, data and hook), or None when this
    nncheck has none (no bar, no curves, then)."""
    try:
        from . import training
        return training if hasattr(training, "ON_ITERATION") else None
    except ImportError:
        return None


def _run_training(module, namespace, stream, out_dir):
    """The training check with a progress bar that counts L-BFGS-B iterations (out of its
    maxiter) and the train/test accuracy after each, saved as a PNG. The check itself is the
    notebook's: compute_loss_grad is only wrapped, to see the network being trained."""
    fn = namespace.get("compute_loss_grad")
    training = _training_module()
    if not callable(fn) or training is None:
        return module.evaluate("training", namespace), None
    bar = ProgressBar(training.MAXITER, stream, "training")
    curves = {"train": [], "test": []}
    state = {"args": None, "test": None, "watch": True}

    def watched(weights, *args, **kwargs):
        state["args"] = args
        return fn(weights, *args, **kwargs)

    def on_iteration(weights):
        note = ""
        if state["watch"] and state["args"]:
            try:
                network, X_train, Y_train = state["args"][0]
                if state["test"] is None:
                    _, X_test, _, y_test = training.shuffled(training.digits())
                    state["test"] = (X_test, y_test)
                copied = copy.deepcopy(network)    # the network being trained is left alone
                training.unflatten(np.asarray(weights), copied)
                curves["train"].append(training.accuracy(copied, X_train, Y_train.argmax(1)))
                curves["test"].append(training.accuracy(copied, *state["test"]))
                note = f"test accuracy {curves['test'][-1]:.1%}"
            except Exception:   # a curve is a bonus: never let it change the check
                state["watch"] = False
        bar.update(note)

    watched.__name__ = getattr(fn, "__name__", "compute_loss_grad")
    hook = training.ON_ITERATION.set(on_iteration)
    try:
        result = module.evaluate("training", {**namespace, "compute_loss_grad": watched})
    finally:
        training.ON_ITERATION.reset(hook)
    if "iterations" in result.details:
        bar.close(f"{result.details['iterations']} iterations, test accuracy "
                  f"{result.details['accuracy']:.1%}")
    png = None
    if curves["test"]:
        try:
            png = _plot_curves(curves, training.THRESHOLD, Path(out_dir) / CURVES_FILE)
        except Exception as error:   # no matplotlib, read-only folder, ...
            stream.write(f"  (could not save the accuracy curves: {error})\n")
    return result, png


def _plot_curves(curves, threshold, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps = range(1, len(curves["test"]) + 1)
    ax.plot(steps, curves["train"], label="train accuracy")
    ax.plot(steps, curves["test"], label="test accuracy")
    if threshold is not None:
        ax.axhline(threshold, color="grey", linestyle="--", label=f"required ({threshold:.0%})")
    ax.set(xlabel="L-BFGS-B iteration", ylabel="accuracy on digits",
           ylim=(0, 1.01), title="Training check: your network on digits")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _find_module(namespace, module):
    if module is None:
        module = namespace.get("check")
    if isinstance(module, str):
        module = importlib.import_module(f"{__package__}.{module}")
    if not (hasattr(module, "CHECKS") and hasattr(module, "evaluate")):
        raise ValueError("no check registry: run the notebook's first cell "
                         "(`from nncheck import aN as check`) or pass module='aN'")
    return module


def _points(n: float) -> str:
    return f"{n:g} pt" if n == 1 else f"{n:g} pts"


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# -- time limits -----------------------------------------------------------------------------

CHECK_SECONDS = 120.0           # a check of the reference takes a second, training a few


class _Stopped(Exception):
    pass


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
                    return _run_training(module, namespace, stream, out_dir)
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


# -- the report ------------------------------------------------------------------------------

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
        return cls(test_points(nb), manual_points(nb), frozenset(getattr(module, "BONUS", ())))


def manual_points(nb: dict) -> dict:
    """grade id -> points of the cells graded by hand (written answers, plots)."""
    return {_meta(c)["grade_id"]: float(_meta(c).get("points", 0)) for c in nb.get("cells", [])
            if _meta(c).get("grade") and _meta(c).get("solution") and _meta(c).get("grade_id")}


def summary(points: Points, results) -> str:
    """'19 of 24 checks pass: 19 of 28 autograded points and 3 of 3 bonus points, if the
    hidden tests agree. Graded by hand: 7 points and 5 bonus points.'"""
    ran = [r.name for r in results]
    won = [r.name for r in results if r.passed]
    earned, earned_bonus = points.split(won, points.tests)
    possible, possible_bonus = points.split(ran, points.tests)
    text = f"{len(won)} of {len(results)} checks pass"
    if possible or possible_bonus:
        text += f": {earned:g} of {possible:g} autograded points"
        if possible_bonus:
            text += f" + {earned_bonus:g} of {possible_bonus:g} bonus"
        text += ", if the hidden tests agree"
    text += "."
    hand, hand_bonus = points.split(points.manual, points.manual)
    if hand or hand_bonus:
        text += (f"\nGraded by hand (plots, experiments, written answers): {hand:g} points"
                 + (f" + {hand_bonus:g} bonus" if hand_bonus else "") + ".")
        total, total_bonus = points.split(points.tests, points.tests)
        text += (f"\nThe assignment: {total + hand:g} points"
                 + (f" + {total_bonus + hand_bonus:g} bonus" if total_bonus + hand_bonus else "")
                 + ".")
    return text


def _notebook_points(module) -> Points | None:
    """The points of the notebook next to us (report() in Jupyter runs in its folder)."""
    name = module.__name__.rsplit(".", 1)[-1]
    for path in sorted(Path.cwd().glob("*.ipynb")):
        try:
            nb = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if check_module_name(nb) == name:
            return Points.of(nb, module)
    return None


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
    module = _find_module(namespace, module)
    ids = list(checks or module.CHECKS)
    unknown = [i for i in ids if i not in module.CHECKS]
    if unknown:
        raise ValueError(f"unknown check id(s) {unknown}; known: {', '.join(module.CHECKS)}")
    if points is None:
        points = _notebook_points(module) or Points({}, {})
    elif isinstance(points, dict):
        points = Points(points, {}, frozenset(getattr(module, "BONUS", ())))
    width = max(len(i) for i in ids) if ids else 0
    task_width = max(len(module.CHECKS[i][0]) for i in ids) if ids else 0
    live = _live(stream)
    results, png, skipped = [], None, []
    for check_id in ids:
        task = module.CHECKS[check_id][0]
        if check_id == "training" and not training:
            stream.write(f"  SKIP  {check_id:<{width}}  {task}  (--skip-training)\n")
            continue
        if live:
            stream.write(f"\r  ....  {check_id:<{width}}  {task}  running ...")
            stream.flush()
        result, curves = _evaluate(module, check_id, namespace, stream, out_dir, seconds)
        png = png or curves
        if live:
            stream.write("\r" + " " * 79 + "\r")
        results.append(result)
        if not_checked and not result.passed and "is not defined" in result.message:
            skipped.append(check_id)
            continue
        worth = f"  {_points(points.tests[check_id])}" if check_id in points.tests else ""
        bonus = " (bonus)" if check_id in points.bonus else ""
        mark = "PASS" if result.passed else "FAIL"
        stream.write(f"  {mark}  {check_id:<{width}}  {task:<{task_width}}{worth}{bonus}"
                     .rstrip() + "\n")
        if not result.passed:
            stream.write(_indent(result.message, " " * 8) + "\n")
            if result.details.get("reproduce"):
                stream.write("        to reproduce it in the notebook:\n"
                             + _indent(result.details["reproduce"], " " * 10) + "\n")
        elif check_id == "training":
            stream.write(_indent(result.message, " " * 8) + "\n")
        if result.details.get("integrity"):
            stream.write(_indent(f"note: {result.details['integrity']} (the course staff are "
                                 "told when the grader sees this)", " " * 8) + "\n")
        stream.flush()
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
    won = [r.name for r in results if r.passed]
    return Report(results, sum(points.split(won, points.tests)),
                  sum(points.split([r.name for r in results], points.tests)))


def _show_inline(png):
    """In a notebook, display the curves too."""
    if "ipykernel" not in sys.modules:
        return
    try:
        from IPython.display import Image, display
        display(Image(filename=str(png)))
    except Exception:
        pass


# -- python check.py -----------------------------------------------------------------------

def main(assignment: str, argv=None, folder=None, stream=None) -> int:
    """`python check.py`: run the notebook's cells, then the checks. Exit code 0 when every
    check passes, 1 when one fails, 2 when the notebook is missing or an id is unknown."""
    stream = stream or sys.stdout
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
    args = parser.parse_args(argv)

    folder = Path(folder or os.getcwd())
    path = args.notebook or folder / f"{assignment}.ipynb"
    if not path.exists():
        stream.write(f"{path} not found: run check.py in the assignment folder, next to the "
                     "notebook (or pass --notebook PATH)\n")
        return 2
    nb = json.loads(path.read_text())
    module = _find_module({}, check_module_name(nb) or assignment.split("_")[0])
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
    setup = next((e for e in errors if e.grade_id == "setup"), None)
    # after a failed setup cell, a later cell's NameError is its consequence: said once
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
    stream.write(f"\nPublic checks ({module.__name__.rsplit('.', 1)[-1]}):\n")
    results = report(namespace, args.checks or None, module, Points.of(nb, module),
                     out_dir=folder, training=not args.skip_training, stream=stream,
                     seconds=args.seconds,
                     not_checked="the setup cell failed, see above" if setup else "")
    stream.write(f"({time.perf_counter() - started:.1f} s in all)\n")
    return 0 if all(results) and not errors else 1
