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
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

CURVES_FILE = "accuracy_curves.png"
# Lines IPython understands and plain Python does not: dropped before a cell runs.
_MAGIC = re.compile(r"^\s*[%!]")
_PLAIN_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")
_CHECK_IMPORT = re.compile(r"from\s+nncheck\s+import\s+(\w+)\s+as\s+check")


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


def python_source(text: str) -> str | None:
    """The cell as plain Python: IPython line magics and shell lines dropped; None for a cell
    in another language (%%bash, ...)."""
    lines = text.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        if lines[0].split()[0] not in _PLAIN_CELL_MAGICS:
            return None
        lines = lines[1:]
    return "\n".join("" if _MAGIC.match(line) else line for line in lines)


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
    cell: int           # 1-based position in the notebook
    grade_id: str
    first_line: str     # to find the cell: Jupyter shows no cell numbers
    error: str          # "NameError: name 'x' is not defined (line 3)"

    def __str__(self):
        return f"cell {self.cell} ({self.first_line!r}) raised {self.error}"


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
    cells = [(i, c) for i, c in enumerate(notebook.get("cells", []), 1) if runs_in_selfcheck(c)]
    sink = io.StringIO()
    live = progress is not None and _live(progress)
    with _modules(modules), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for done, (index, cell) in enumerate(cells, 1):
            text = _text(cell)
            first = next((l.strip() for l in text.splitlines() if l.strip()), "")[:60]
            if live:
                progress.write(f"\r  running cell {done}/{len(cells)} of {name} ... ")
                progress.flush()
            code = python_source(text)
            if code is None:
                continue
            filename = f"<{name} cell {index}>"
            linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
            try:
                compiled = compile(code, filename, "exec")
                with contextlib.ExitStack() as stack:
                    if quiet:
                        stack.enter_context(contextlib.redirect_stdout(sink))
                        stack.enter_context(contextlib.redirect_stderr(sink))
                    exec(compiled, namespace)
            except (Exception, SystemExit) as error:  # the student's code may raise anything
                errors.append(CellError(index, _meta(cell).get("grade_id", ""), first,
                                        _describe(error, filename)))
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

    Redrawn in place on a terminal or in Jupyter; in a log (a pipe, CI) one line per tenth."""

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
        line = f"  {self.label} [{'#' * self.width}] done {note}"
        self.stream.write((f"\r{line.ljust(79)}" if self.live else line) + "\n")
        self.stream.flush()


def _watcher():
    """(accuracy, unflatten) of the public training module: the grader's own measurement, not
    the student's predict; None when this nncheck has no such helpers (no curves, then)."""
    try:
        from . import training
        return training.accuracy, training.unflatten
    except (ImportError, AttributeError):
        return None


def _test_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    _, X_test, _, y_test = train_test_split(X, y, random_state=0)
    return X_test, y_test


def _training_limits():
    try:
        from .training import MAXITER, THRESHOLD
        return MAXITER, THRESHOLD
    except ImportError:
        return 400, None


def _run_training(module, namespace, stream, out_dir):
    """The training check with a progress bar (one tick per evaluation of your
    compute_loss_grad) and the train/test accuracy after each evaluation, saved as a PNG.

    The check itself is the notebook's: only compute_loss_grad is wrapped, to watch it."""
    fn = namespace.get("compute_loss_grad")
    if not callable(fn):
        return module.evaluate("training", namespace), None
    maxiter, threshold = _training_limits()
    bar = ProgressBar(maxiter, stream, "training")
    curves = {"train": [], "test": []}
    helpers = _watcher()
    state = {"test": None, "watch": helpers is not None}

    def watched(weights, *args, **kwargs):
        value = fn(weights, *args, **kwargs)
        note = ""
        if state["watch"]:
            try:
                network, X_train, Y_train = args[0]
                if state["test"] is None:
                    state["test"] = _test_digits()
                accuracy, unflatten = helpers
                copied = copy.deepcopy(network)    # the network being trained is left alone
                unflatten(weights, copied)
                curves["train"].append(accuracy(copied, X_train, Y_train.argmax(axis=1)))
                curves["test"].append(accuracy(copied, *state["test"]))
                note = f"test accuracy {curves['test'][-1]:.1%}"
            except Exception:   # a curve is a bonus: never let it change the check
                state["watch"] = False
        bar.update(note)
        return value

    watched.__name__ = getattr(fn, "__name__", "compute_loss_grad")
    result = module.evaluate("training", {**namespace, "compute_loss_grad": watched})
    bar.close(f"({bar.count} evaluations of compute_loss_grad)")
    png = None
    if curves["test"]:
        try:
            png = _plot_curves(curves, threshold, Path(out_dir) / CURVES_FILE)
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
    ax.set(xlabel="evaluation of compute_loss_grad (L-BFGS-B)", ylabel="accuracy on digits",
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


def report(namespace: dict, checks=None, module=None, points: dict | None = None,
           out_dir=".", training: bool = True, stream=None) -> list:
    """Run the public checks on `namespace` (the notebook's `globals()`) and print, per check,
    PASS or FAIL and for a failure what to fix. Returns the CheckResults, in notebook order.

    `checks` limits the run to some ids; `training=False` skips the slow training check."""
    stream = stream or sys.stdout
    module = _find_module(namespace, module)
    ids = list(checks or module.CHECKS)
    unknown = [i for i in ids if i not in module.CHECKS]
    if unknown:
        raise ValueError(f"unknown check id(s) {unknown}; known: {', '.join(module.CHECKS)}")
    points = points or {}
    width = max(len(i) for i in ids) if ids else 0
    task_width = max(len(module.CHECKS[i][0]) for i in ids) if ids else 0
    results, ran, png = [], [], None
    for check_id in ids:
        task = module.CHECKS[check_id][0]
        if check_id == "training" and not training:
            stream.write(f"  SKIP  {check_id:<{width}}  {task}  (--skip-training)\n")
            continue
        if check_id == "training":
            result, png = _run_training(module, namespace, stream, out_dir)
        else:
            result = module.evaluate(check_id, namespace)
        results.append(result)
        ran.append(check_id)
        worth = f"  {_points(points[check_id])}" if check_id in points else ""
        mark = "PASS" if result.passed else "FAIL"
        stream.write(f"  {mark}  {check_id:<{width}}  {task:<{task_width}}{worth}".rstrip() + "\n")
        if not result.passed:
            stream.write(_indent(result.message, " " * 8) + "\n")
        stream.flush()
    failed = [check_id for check_id, r in zip(ran, results) if not r.passed]
    earned = sum(points.get(c, 0) for c in ran if c not in failed)
    possible = sum(points.get(c, 0) for c in ran)
    summary = f"\n{len(results) - len(failed)} of {len(results)} checks pass"
    if possible:
        summary += f" ({earned:g} of {possible:g} points, if the hidden tests agree)"
    stream.write(summary + ".\n")
    if failed:
        tasks = list(dict.fromkeys(module.CHECKS[c][0] for c in failed))
        stream.write(f"To fix: {', '.join(tasks)}.\n")
    if png is not None:
        stream.write(f"Accuracy curves of the training check: {png}\n")
        _show_inline(png)
    stream.flush()
    return results


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
    for error in errors:
        where = " -- the setup cell: fix this first" if error.grade_id == "setup" else ""
        stream.write(f"  ! {error}{where}\n")
    stream.write(f"\nPublic checks ({module.__name__.rsplit('.', 1)[-1]}):\n")
    results = report(namespace, args.checks or None, module, test_points(nb), out_dir=folder,
                     training=not args.skip_training, stream=stream)
    stream.write(f"({time.perf_counter() - started:.1f} s in all)\n")
    return 0 if all(results) and not errors else 1
