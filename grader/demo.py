"""`grader demo`: release, build a demo class, autograde it, print the table.

The class has, per assignment: `correct` (the reference answers), `buggy` (realistic bugs;
for assignment 3 the seed-000 student's), `syntax_error` (code that does not parse) and
`missing_notebook` (the notebook was not submitted) and `untouched_release` (the bundle as
released: the stubs must earn nothing). Each has an expected autograded score; the demo exits
non-zero if any sample scores otherwise.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from . import autograde as grading
from . import course, doctor, notebooks, release, samples, stubs
from .nncheck import cells
from .nncheck.cells import points_text
from .summary import table

SAMPLES = ("correct", "buggy", "syntax_error", "missing_notebook", "untouched_release")
TIMESTAMP = "2026-11-23 12:00:00.000000 UTC"
BROKEN_LINE = "print('unfinished'"    # an unclosed parenthesis: a SyntaxError


def _fill_notebook(released: dict, source: dict, replace: dict) -> dict:
    """The released notebook with each solution cell answered: by `replace[grade_id]`, else as
    the source (the instructor's answer, markers removed)."""
    answers = {cells.meta(c).get("grade_id"): c for c in source["cells"]
               if cells.meta(c).get("solution")}
    nb = json.loads(json.dumps(released))
    for cell in nb["cells"]:
        grade_id = cells.meta(cell).get("grade_id")
        if cells.meta(cell).get("solution") and grade_id in answers:
            cell["source"] = replace.get(grade_id,
                                         notebooks.without_fences(cells.source(answers[grade_id])))
    return nb


def build_sample(kind: str, assignment: course.Assignment, bundle: Path, dest: Path):
    """Write one sample submission of `assignment` into `dest`, starting from the release."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(bundle, dest)
    (dest / "timestamp.txt").write_text(TIMESTAMP)
    if kind == "untouched_release":
        return
    notebook = dest / assignment.notebook
    if kind == "missing_notebook":
        notebook.unlink()
        return
    source = notebooks.load(assignment.source_dir / assignment.notebook)
    released = notebooks.load(notebook)
    sample = samples.for_assignment(assignment.id)
    answers, modules = {}, {}
    if kind == "buggy":
        answers, modules = sample.BUGGY_CELLS, sample.BUGGY_MODULES
    for filename, src in assignment.modules.items():
        text = (course.SOURCE_LAYERS / src).read_text()
        text = stubs.fill(text, modules.get(filename, {}), filename=filename)
        if kind == "syntax_error":
            text = text.replace("class Dense(Layer):", "class Dense(Layer)")
        (dest / filename).write_text(text)
    if kind == "syntax_error" and not assignment.modules:
        answers = {cells.meta(c)["grade_id"]: notebooks.without_fences(cells.source(c))
                 + "\n" + BROKEN_LINE
                 for c in source["cells"]
                 if cells.meta(c).get("solution") and c["cell_type"] == "code"}
    notebook.write_text(json.dumps(_fill_notebook(released, source, answers), indent=1))


def expected_score(kind: str, assignment: course.Assignment) -> float:
    points = cells.test_points(notebooks.load(assignment.source_dir / assignment.notebook))
    if kind == "correct":
        return sum(points.values())
    sample = samples.for_assignment(assignment.id)
    if kind == "buggy":
        return sum(p for check, p in points.items() if check not in sample.BUGGY_LOSES)
    if kind == "syntax_error":
        return sum(points[check] for check in getattr(sample, "SYNTAX_KEEPS", ()))
    return 0.0


MARKER = ".grader-demo"      # a course directory `grader demo` built, and may build anew


def grade_demo_class(root: Path, log=print, allow_weak=False):
    """Release, build the class, grade it; returns (outcomes, the unexpectedly scored ones).
    A course directory that holds anything but a demo class is refused, never replaced."""
    root = Path(root)
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        raise course.UsageError(f"{course.where(root)} holds a class that is not the demo: "
                                "it is left as it is; give the demo another --course-dir")
    doctor.check(doctor.probe(), allow_weak)    # before anything is written
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("built by `grader demo`: rebuilt by each run\n")
    bundles = release.release(root, log=log)
    for bundle in bundles:
        assignment = course.get(bundle.name)
        for kind in SAMPLES:
            build_sample(kind, assignment, bundle, root / "submitted" / kind / assignment.id)
    outcomes = grading.autograde(root, log=log, allow_weak=allow_weak)
    log(table(outcomes))
    wrong = [o for o in outcomes
             if abs(o.total - expected_score(o.student, course.get(o.assignment))) > 1e-9]
    for o in wrong:
        log(f"UNEXPECTED: {o.assignment} {o.student} scored {points_text(o.total)}, expected "
            f"{points_text(expected_score(o.student, course.get(o.assignment)))}")
    log(f"\ndemo class graded in {root}: {len(outcomes)} submissions, "
        f"{'all as expected' if not wrong else f'{len(wrong)} unexpected'}")
    default = root.resolve() == course.DEFAULT_COURSE.resolve()
    option = "" if default else f" --course-dir {root}"
    log("Next: `grader report" + option + "` (class pages), `grader feedback" + option
        + "` (student pages), `grader export --format canvas" + option + "`"
        + ("; plain `nbgrader` and formgrader, run from the repository root, see this class"
           if default else ""))
    return outcomes, wrong


def add_arguments(parser):
    parser.add_argument("--course-dir", type=Path, default=course.DEFAULT_COURSE,
                        help=f"default: {course.DEFAULT_COURSE}, where every command looks "
                        "(a folder holding another class is refused)")
    grading.add_isolation_argument(parser)


def run(args) -> int:
    started = time.perf_counter()
    try:
        wrong = grade_demo_class(args.course_dir, allow_weak=args.allow_weak_isolation)[1]
    except doctor.IsolationRefused as error:
        print(f"grader demo: {error}", file=sys.stderr)
        return 2
    print(f"total time {time.perf_counter() - started:.1f} s")
    return 1 if wrong else 0
