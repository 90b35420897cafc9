"""Running a notebook's code cells as check.py does: in order, in one namespace, as IPython
reads them, never the test cells or the cells graded by hand (the checks run instead)."""
from __future__ import annotations

import contextlib
import io
import json
import linecache
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

from . import cells
from .progress import live

#: Cell magics whose body is Python and runs as such here (timing and capturing only).
PYTHON_CELL_MAGICS = ("time", "timeit", "capture")


def runs_in_selfcheck(cell) -> bool:
    """Code the student writes or is given. Graded cells are left out: the test cells (the
    checks run instead) and the code cells graded by hand (plots, experiments)."""
    return cell.get("cell_type") == "code" and not cells.meta(cell).get("grade")


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
        if name in PYTHON_CELL_MAGICS:
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
    namespace.setdefault("get_ipython", lambda: shell)
    shell = _Shell(namespace)
    chosen = [(i, c) for i, c in enumerate(notebook.get("cells", []), 1) if runs_in_selfcheck(c)]
    status = _status_line(progress, name, len(chosen))
    errors: list[CellError] = []
    with _modules(modules), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for done, (index, cell) in enumerate(chosen, 1):
            status(done)
            error = _run_cell(cell, index, namespace, quiet)
            if error is not None:
                errors.append(error)
    status(None)
    return namespace, errors


def _status_line(stream, name: str, total: int):
    """`status(n)` shows 'running cell n/total' where a line can be redrawn; status(None)
    clears it."""
    shown = stream is not None and live(stream)

    def status(done):
        if not shown:
            return
        stream.write(f"\r  running cell {done}/{total} of {name} ... " if done is not None
                     else "\r" + " " * 79 + "\r")
        stream.flush()
    return status


def _run_cell(cell, index: int, namespace: dict, quiet: bool) -> CellError | None:
    text = cells.source(cell)
    code = cells.python_source(text)
    filename = f"<notebook cell {index}>"
    # under that name tracebacks and the checks' messages find the cell's first line
    linecache.cache[filename] = (len(code), None, text.splitlines(True), filename)
    sink = io.StringIO()
    try:
        compiled = compile(code, filename, "exec")
        with contextlib.ExitStack() as stack:
            if quiet:
                stack.enter_context(contextlib.redirect_stdout(sink))
                stack.enter_context(contextlib.redirect_stderr(sink))
            exec(compiled, namespace)
    except (Exception, SystemExit) as error:  # the student's code may raise anything
        return CellError(index, cells.meta(cell).get("grade_id", ""), cell_label(text),
                         _describe(error, filename))
    finally:
        _close_figures()
    return None


def _describe(error: BaseException, filename: str) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, SyntaxError) and error.filename == filename:
        return f"{type(error).__name__}: {error.msg} (line {error.lineno})"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == filename]
    return f"{text} (line {frames[-1].lineno})" if frames else text
