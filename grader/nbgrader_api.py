"""The one place that builds nbgrader's API objects for a course directory."""
from __future__ import annotations

import logging
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from .nbconfig import config


def api_for(root: Path | str) -> NbGraderAPI:
    cfg = config(root)
    Path(root).mkdir(parents=True, exist_ok=True)
    coursedir = CourseDirectory(config=cfg)
    api = NbGraderAPI(coursedir=coursedir, config=cfg)
    api.log.setLevel(logging.WARNING)
    return api


def gradebook(root: Path | str):
    from nbgrader.api import Gradebook
    return Gradebook(f"sqlite:///{Path(root).resolve() / 'gradebook.db'}")
