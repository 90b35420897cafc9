"""The one place that builds nbgrader's API objects for a course directory."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from .nbconfig import config


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
    api = NbGraderAPI(coursedir=coursedir, config=cfg)
    api.log.setLevel(logging.WARNING)
    return api


def gradebook(root: Path | str):
    from nbgrader.api import Gradebook
    return Gradebook(f"sqlite:///{Path(root).resolve() / 'gradebook.db'}")
