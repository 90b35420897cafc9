"""`grader release`: nbgrader's student notebook + generated stubs + public checks, per assignment.

A student's bundle never contains the reference, the hidden checks or any output: it is built
from the fenced sources and then scanned (grader.leaks) before it is accepted.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from . import course, leaks, stubs
from .nbgrader_api import api_for

REQUIREMENTS = """\
# What a student needs to run the assignment and its self-checks.
numpy>=1.26
scipy>=1.11
scikit-learn>=1.3
matplotlib>=3.8
jupyter>=1.0
"""


def add_arguments(parser):
    parser.add_argument("assignments", nargs="*",
                        help=f"default: all ({', '.join(course.ASSIGNMENTS)})")
    parser.add_argument("--course-dir", type=Path, default=course.BUILD / "course")
    parser.add_argument("--out", type=Path, help="also copy the bundles here")


def run(args) -> int:
    try:
        release(args.course_dir, args.assignments or None, out=args.out)
    except ReleaseError as error:
        print(f"grader release: {error}", file=sys.stderr)
        return 1
    return 0


class ReleaseError(RuntimeError):
    """The bundle could not be built, or it is unsafe to hand out."""


def student_module(assignment: course.Assignment, filename: str) -> str:
    path = course.SOURCE_LAYERS / assignment.modules[filename]
    return stubs.make_stub(path.read_text(), filename=str(path))


def reference_module(assignment: course.Assignment, filename: str) -> str:
    path = course.SOURCE_LAYERS / assignment.modules[filename]
    return stubs.make_reference(path.read_text(), filename=str(path))


def copy_public_checks(dest: Path):
    shutil.copytree(course.NNCHECK, dest / "nncheck", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def release(root: Path, assignment_ids=None, out: Path | None = None, log=print) -> list[Path]:
    """Build each bundle in <root>/release/<id> (nbgrader's place), optionally copied to `out`."""
    assignments = ([course.get(a) for a in assignment_ids] if assignment_ids
                   else course.available())
    if not assignments:
        raise ReleaseError("no assignment has a source notebook under assignments/")
    api = api_for(root)
    bundles = []
    for assignment in assignments:
        result = api.generate_assignment(assignment.id, force=True, create=True)
        if not result.get("success"):
            raise ReleaseError(f"nbgrader generate_assignment {assignment.id} failed:\n"
                               f"{result.get('error') or result.get('log')}")
        bundle = Path(root) / "release" / assignment.id
        for filename in assignment.modules:
            (bundle / filename).write_text(student_module(assignment, filename))
        copy_public_checks(bundle)
        (bundle / "requirements.txt").write_text(REQUIREMENTS)
        findings = leaks.scan(bundle)
        if findings:
            shutil.rmtree(bundle)
            raise ReleaseError(f"{assignment.id}: the release leaks; nothing was released:\n"
                               + "\n".join(map(str, findings[:20])))
        if out is not None:
            target = Path(out) / assignment.id
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(bundle, target)
            bundle = target
        log(f"released {assignment.id} -> {bundle}")
        bundles.append(bundle)
    return bundles
