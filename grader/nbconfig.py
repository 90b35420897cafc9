"""nbgrader configuration shared by `grader` and by plain `nbgrader` run from the repo root."""
from __future__ import annotations

from pathlib import Path

from traitlets import Unicode
from traitlets.config import Config, Configurable

from . import course

CELL_TIMEOUT = 180          # s per cell: the training cells take a few seconds; loops do not end


def configure(c: Config, root: Path | str | None = None) -> Config:
    """Fill `c` for a course directory `root` (build outputs) whose sources are assignments/."""
    root = Path(root or course.DEFAULT_COURSE).resolve()
    c.CourseDirectory.root = str(root)
    c.Exchange.root = str(course.EXCHANGE)      # nbgrader list / release_assignment / collect
    c.CourseDirectory.source_directory = str(course.ASSIGNMENTS_DIR)   # absolute: used as is
    c.ExecutePreprocessor.timeout = CELL_TIMEOUT
    c.Execute.timeout = CELL_TIMEOUT
    c.Execute.interrupt_on_timeout = True
    c.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]   # no per-kernel TCP warning
    # Never let a source-folder file replace what a student wrote (defence in depth: the source
    # folders hold only notebooks, but a stray module there must not shadow the student's).
    c.Autograde.exclude_overwriting = {a.id: sorted(a.modules) for a in course.ASSIGNMENTS.values()}
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    return c


def config(root=None) -> Config:
    """The configuration nbgrader itself would use for the course directory `root`: the
    instructor's settings from nbgrader_config.py (the repository's, then the course
    directory's, the files nbgrader loads: a late-penalty plugin, ...), then the grader's."""
    from traitlets.config.loader import PyFileConfigLoader
    c = Config()
    root = Path(root or course.DEFAULT_COURSE).resolve()
    for folder in dict.fromkeys((course.ROOT, root)):
        if (folder / "nbgrader_config.py").is_file():
            c.merge(PyFileConfigLoader("nbgrader_config.py", str(folder)).load_config())
    return configure(c, root)


class GraderCluster(Configurable):
    """Where `grader autograde` grades, set in nbgrader_config.py beside the course's other
    settings (the gradebook's c.CourseDirectory.db_url): `c.GraderCluster.scheduler =
    "tcp://host:8786"` sends every submission to that Dask cluster (docs/scale.md)."""
    scheduler = Unicode("", help="address of a Dask scheduler (tcp://host:port) or the path of "
                        "its scheduler file (JSON); empty: this machine's cores").tag(config=True)


def scheduler(root=None) -> str:
    """The Dask scheduler nbgrader_config.py names for the course `root` ('' if none)."""
    return GraderCluster(config=config(root)).scheduler
