"""The one place that builds nbgrader's API objects for a course directory, and that stores a
graded submission into its gradebook and autograded/ folder as `nbgrader autograde` would."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from .nbconfig import config

KEPT_FILE_BYTES = 20 * 2 ** 20


def _prepend(variable, entry):
    paths = [p for p in os.environ.get(variable, "").split(os.pathsep) if p]
    if entry not in paths:
        os.environ[variable] = os.pathsep.join([entry] + paths)


def use_this_environment():
    """Run nbgrader's helpers and kernels from the Python that has the grader installed.

    nbgrader starts `alembic` by name (so this environment's bin/ must be on PATH even when the
    venv is not activated), and a `python3` kernelspec registered elsewhere by the user must not
    win over this environment's (JUPYTER_PATH comes first in Jupyter's search order).
    """
    _prepend("PATH", str(Path(sys.executable).parent))
    _prepend("JUPYTER_PATH", str(Path(sys.prefix) / "share" / "jupyter"))


def api_for(root: Path | str) -> NbGraderAPI:
    use_this_environment()
    cfg = config(root)
    Path(root).mkdir(parents=True, exist_ok=True)
    coursedir = CourseDirectory(config=cfg)
    if not coursedir.db_url.startswith("sqlite"):
        gradebook(root).close()         # the course row nbgrader's apps need (gradebook())
    api = NbGraderAPI(coursedir=coursedir, config=cfg)
    api.log.setLevel(logging.WARNING)
    return api


def db_url(root: Path | str) -> str:
    """Where a course's gradebook lives: nbgrader's own `c.CourseDirectory.db_url` from
    nbgrader_config.py (any SQLAlchemy URL, e.g. a PostgreSQL server that formgrader shares;
    docs/scale.md), by default nbgrader's `sqlite:///<root>/gradebook.db`."""
    return CourseDirectory(config=config(root)).db_url


def holds_gradebook(root: Path | str) -> bool:
    """Whether `root` is a course with a gradebook, without creating one: an SQLite file must
    exist; a database server's gradebook is the configured course folder's."""
    from sqlalchemy.engine import make_url
    url = make_url(db_url(root))
    if url.get_backend_name() == "sqlite":
        return bool(url.database) and Path(url.database).is_file()
    return Path(root).is_dir()


def gradebook(root: Path | str):
    """nbgrader's gradebook of a course, where nbgrader's configuration puts it (db_url; a new
    one gets its tables and nbgrader's alembic version: `alembic` is found on PATH)."""
    from nbgrader.api import Course, Gradebook
    use_this_environment()
    cfg = config(root)
    url = CourseDirectory(config=cfg).db_url
    gb = Gradebook(url)
    if not url.startswith("sqlite"):
        # nbgrader's own apps file assignments under the configured course id, '' by default,
        # for which Gradebook creates no course row: SQLite does not check that foreign key,
        # a database server does.
        course_id = CourseDirectory(config=cfg).course_id
        if gb.db.get(Course, course_id) is None:
            gb.db.add(Course(id=course_id))
            gb.db.commit()
    return gb


def _timestamp(folder: Path):
    from nbgrader.utils import parse_utc
    try:
        return parse_utc((folder / "timestamp.txt").read_text().strip())
    except (OSError, ValueError, TypeError):
        return None


def store(root: Path, assignment, student: str, folder: Path, graded, outcome):
    """Into nbgrader's gradebook and autograded/ folder, as `nbgrader autograde` would."""
    import nbformat

    with gradebook(root) as gb:
        gb.update_or_create_student(student)
        stamp = _timestamp(folder)
        submission = (gb.update_or_create_submission(assignment.id, student, timestamp=stamp)
                      if stamp else gb.update_or_create_submission(assignment.id, student))
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name in outcome.scores:
                    grade.auto_score = outcome.scores[grade.name][0]
                    grade.needs_manual_grade = False
                elif graded.notebook is None:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
                else:
                    grade.needs_manual_grade = True
        gb.db.commit()
        _late_penalty(gb, root, assignment.id, student)
    dest = Path(root) / "autograded" / student / assignment.id
    dest.mkdir(parents=True, exist_ok=True)
    if graded.notebook is not None:
        for path in graded_files(folder, assignment):
            target = dest / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
        nbformat.write(nbformat.from_dict(graded.notebook), str(dest / assignment.notebook))


def graded_files(folder: Path, assignment) -> list[Path]:
    """The submitted files a worker ran with, for staff to read beside the autograded notebook:
    regular files (no link, no compiled code: grader.sandbox.session never runs them) but the
    notebook itself, each up to KEPT_FILE_BYTES."""
    from .sandbox.session import COMPILED, SKIPPED_NAMES
    found = []
    for path, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if d not in SKIPPED_NAMES]
        for name in files:
            file = Path(path) / name
            if (file.is_symlink() or not file.is_file() or name.endswith(COMPILED)
                    or file == folder / assignment.notebook
                    or file.stat().st_size > KEPT_FILE_BYTES):
                continue
            found.append(file)
    return sorted(found)


def _late_penalty(gb, root, assignment_id, student):
    """What nbgrader's AssignLatePenalties does after autograding: the LateSubmissionPlugin
    configured in nbgrader_config.py (none by default) sets each notebook's penalty."""
    from nbgrader.preprocessors import AssignLatePenalties

    submission = gb.find_submission(assignment_id, student)
    late = submission.total_seconds_late
    assigner = None
    for notebook in submission.notebooks:
        notebook.late_submission_penalty = None
        if late > 0:
            if assigner is None:
                assigner = AssignLatePenalties(config=config(root))
                assigner.init_plugin()
            penalty = assigner.plugin_inst.late_submission_penalty(student, notebook.score, late)
            if penalty is not None:
                notebook.late_submission_penalty = assigner._check_late_penalty(notebook, penalty)
    gb.db.commit()
