"""`grader autograde`: nbgrader autograde over every submission, and a gradebook that has a score
for each of them -- including the ones nbgrader gives up on.

nbgrader raises "No notebooks found" when a single-notebook assignment's notebook is missing
(it zero-fills only when *some* notebooks exist), which would leave the student with no grade at
all; this module records the zeros itself, through nbgrader's gradebook API, and says why.
"""
from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import course, notebooks
from .nbgrader_api import api_for, gradebook


RESULTS_FILE = "grader_results.json"


@dataclass
class Outcome:
    """One graded submission; saved as <root>/autograded/<student>/<assignment>/RESULTS_FILE,
    which feedback, reports and exports read (the gradebook stays nbgrader's)."""
    student: str
    assignment: str
    status: str                                  # "graded" or why it was zero-filled
    scores: dict = field(default_factory=dict)   # check id -> (score, max) of autograded cells
    messages: dict = field(default_factory=dict)  # check id -> failure message
    manual: dict = field(default_factory=dict)   # grade id -> max points, graded by hand
    flags: list = field(default_factory=list)    # reasons to look closer (possible tampering)
    events: list = field(default_factory=list)   # what happened: timeouts, crashes, repairs
    seconds: float = 0.0

    def to_record(self) -> dict:
        return {
            "assignment": self.assignment, "student": self.student, "status": self.status,
            "total": self.total, "max_total": self.max_total, "seconds": round(self.seconds, 3),
            "checks": {check: {"points": score, "max_points": maximum,
                               "passed": score >= maximum,
                               "message": self.messages.get(check, "")}
                       for check, (score, maximum) in self.scores.items()},
            "manual": self.manual, "flags": self.flags, "events": self.events,
        }

    @classmethod
    def from_record(cls, record: dict) -> "Outcome":
        checks = record.get("checks", {})
        return cls(record["student"], record["assignment"], record["status"],
                   {k: (v["points"], v["max_points"]) for k, v in checks.items()},
                   {k: v["message"] for k, v in checks.items() if v.get("message")},
                   record.get("manual", {}), record.get("flags", []), record.get("events", []),
                   record.get("seconds", 0.0))

    @property
    def total(self):
        return sum(score for score, _ in self.scores.values())

    @property
    def max_total(self):
        return sum(maximum for _, maximum in self.scores.values())


def submissions(root: Path, assignment_id: str) -> list[str]:
    base = Path(root) / "submitted"
    return sorted(p.parent.name for p in base.glob(f"*/{assignment_id}") if p.is_dir())


def zero_fill(root: Path, assignment_id: str, student: str):
    """Record a zero for every cell of the submission, as nbgrader does for a missing notebook."""
    with gradebook(root) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment_id, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def record_path(root: Path, assignment_id: str, student: str) -> Path:
    return Path(root) / "autograded" / student / assignment_id / RESULTS_FILE


def save(root: Path, outcome: Outcome):
    """Write the record atomically: a killed batch never leaves half a file behind."""
    path = record_path(root, outcome.assignment, outcome.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(outcome.to_record(), indent=1))
    partial.replace(path)


def load(root: Path, assignment_id: str) -> list[Outcome]:
    """Every saved outcome of one assignment, by student."""
    return [Outcome.from_record(json.loads(p.read_text()))
            for p in sorted(Path(root).glob(f"autograded/*/{assignment_id}/{RESULTS_FILE}"))]


def _errors(path: Path) -> dict:
    """grade_id -> the error its cell raised, read from the autograded notebook."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    messages = {}
    for cell in nb.get("cells", []):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for output in cell.get("outputs", []):
            if grade_id and output.get("output_type") == "error":
                messages[grade_id] = f"{output.get('ename')}: {output.get('evalue')}"
    return messages


def collect(root: Path, assignment: course.Assignment, student: str, status: str) -> Outcome:
    outcome = Outcome(student, assignment.id, status)
    source = notebooks.load(assignment.source_dir / assignment.notebook)
    tests = notebooks.test_points(source)
    outcome.manual = notebooks.manual_points(source)
    with gradebook(root) as gb:
        submission = gb.find_submission(assignment.id, student)
        grades = {g.name: g for nb in submission.notebooks for g in nb.grades}
        for check in tests:
            grade = grades[check]
            outcome.scores[check] = (float(grade.score or 0.0), float(grade.max_score))
    autograded = Path(root) / "autograded" / student / assignment.id / assignment.notebook
    errors = _errors(autograded)
    outcome.messages = {k: v for k, v in errors.items()
                        if k in outcome.scores and outcome.scores[k][0] < outcome.scores[k][1]}
    if "setup" in errors:
        outcome.status += f"; the setup cell failed, so nothing could be tested: {errors['setup']}"
    return outcome


def autograde(root: Path, assignment_ids=None, students=None, log=print) -> list[Outcome]:
    root = Path(root)
    assignments = ([course.get(a) for a in assignment_ids] if assignment_ids
                   else course.available())
    api = api_for(root)
    # nbgrader's own gradebook code trips SQLAlchemy's autoflush warnings; they are not ours to fix
    warnings.filterwarnings("ignore", message=".*not in session.*")
    outcomes = []
    for assignment in assignments:
        with gradebook(root) as gb:
            known = {a.name for a in gb.assignments}
        if assignment.id not in known:
            raise SystemExit(f"{assignment.id} has not been released in {root}: "
                             f"run `grader release --course-dir {root}` first")
        for student in students or submissions(root, assignment.id):
            started = time.perf_counter()
            folder = root / "submitted" / student / assignment.id
            if not (folder / assignment.notebook).exists():
                zero_fill(root, assignment.id, student)
                status = f"zero: {assignment.notebook} is missing from the submission"
            else:
                result = api.autograde(assignment.id, student, force=True, create=True)
                if result.get("success"):
                    status = "graded"
                else:
                    zero_fill(root, assignment.id, student)
                    error = (result.get("error") or result.get("log") or "").strip()
                    status = f"zero: nbgrader could not grade it ({error.splitlines()[-1:]})"
            outcome = collect(root, assignment, student, status)
            outcome.seconds = time.perf_counter() - started
            save(root, outcome)
            log(f"{assignment.id} {student}: {outcome.total:g}/{outcome.max_total:g} ({outcome.status})")
            outcomes.append(outcome)
    return outcomes


def add_arguments(parser):
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--course-dir", type=Path, default=course.BUILD / "course")
    parser.add_argument("--student", action="append", help="only this student (repeatable)")


def run(args) -> int:
    started = time.perf_counter()
    outcomes = autograde(args.course_dir, args.assignments or None, args.student or None)
    print(table(outcomes))
    print(f"\n{len(outcomes)} submissions in {time.perf_counter() - started:.1f} s")
    return 1 if any(o.status.startswith("zero: nbgrader") for o in outcomes) else 0


def table(outcomes: list[Outcome]) -> str:
    """One block per assignment: a row per check, a column per student, then the totals."""
    lines = []
    for assignment in dict.fromkeys(o.assignment for o in outcomes):
        rows = [o for o in outcomes if o.assignment == assignment]
        checks = list(dict.fromkeys(k for o in rows for k in o.scores))
        width = max([len(c) for c in checks] + [len("check"), len("TOTAL")])
        cols = [max(len(o.student), 7) for o in rows]
        lines.append(f"\n== {assignment} ==")
        lines.append("check".ljust(width) + "".join(f"  {o.student:>{w}}" for o, w in zip(rows, cols)))
        for check in checks:
            cells = []
            for o, w in zip(rows, cols):
                score, maximum = o.scores.get(check, (0.0, 0.0))
                cells.append(f"  {f'{score:g}/{maximum:g}':>{w}}")
            lines.append(check.ljust(width) + "".join(cells))
        lines.append("TOTAL".ljust(width) + "".join(
            f"  {f'{o.total:g}/{o.max_total:g}':>{w}}" for o, w in zip(rows, cols)))
        for o in rows:
            if o.status != "graded":
                lines.append(f"  {o.student}: {o.status}")
            if "setup cell failed" in o.status:
                continue    # every check failed for that one reason
            for check, message in o.messages.items():
                lines.append(f"  {o.student} / {check}: {message.splitlines()[0][:300]}")
    return "\n".join(lines)
