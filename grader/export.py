"""`grader export`: the grades the gradebook holds, in the formats other systems import.

    grader export [--format csv|canvas|moodle|gradescope] [ASSIGNMENT...] [--student ID]
                  [--out PATH]

Every score comes from nbgrader's gradebook, as `nbgrader export` computes it: the autograded
cells, the cells graded by hand (formgrader), the late penalty nbgrader's LateSubmissionPlugin
assigned, and total = max(0, autograded + hand-graded - penalty) out of the assignment's
maximum. A student in the gradebook without a submission gets 0, as in `nbgrader export`.

`csv` -- plain: a row per student and assignment with every part (autograded, hand-graded and
their maxima, cells still to grade by hand, late penalty, total, maximum).
`canvas` -- Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, then a
column per assignment (the total) after a "Points Possible" row. The nbgrader student id goes in
"SIS Login ID"; "ID" is the gradebook's lms_user_id when set.
`moodle` -- Moodle's grade import (CSV): "Username" then a column per assignment (the total);
nothing but students below the header (Moodle would read any other row as a user).
`gradescope` -- Gradescope's results.json per submission: a test per autograded check (shown
after the due date: the hidden tests decide it), a test per cell graded by hand once it is
graded, a visible test saying whether the submission ran, and the total as the score.
`--out FILE.json` for one submission (what run_autograder uses), else a folder (default
<course-dir>/gradescope) that gets <student>/<assignment>/results.json.

Without --out a CSV goes to stdout.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import course, notebooks
from .feedback import graded, student_message, student_text, tasks
from .nncheck import cells
from .nncheck.cells import points_text

FORMATS = ("csv", "canvas", "moodle", "gradescope")
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_MAX_ROW = "Points Possible"
PLAIN_COLUMNS = ("student_id", "assignment", "autograded", "autograded_max", "hand_graded",
                 "hand_graded_max", "to_grade_by_hand", "late_penalty", "total", "max_total")


@dataclass
class Grade:
    """One student's grade for one assignment, as the gradebook holds it."""
    student: str
    assignment: str
    submitted: bool
    autograded: float = 0.0
    autograded_max: float = 0.0
    hand_graded: float = 0.0
    hand_graded_max: float = 0.0
    to_grade: int = 0                             # cells graded by hand, not graded yet
    late_penalty: float = 0.0
    max_total: float = 0.0
    cells: dict = field(default_factory=dict)     # grade id -> (score or None, max)
    name: tuple = ("", "")                        # (first, last)
    lms_user_id: str = ""

    @property
    def raw(self) -> float:
        return self.autograded + self.hand_graded

    @property
    def total(self) -> float:
        """nbgrader's score: the raw score less the late penalty, never below zero."""
        return max(0.0, self.raw - self.late_penalty)


def _kinds(assignment: course.Assignment) -> tuple[dict, dict]:
    """(autograded cell -> max, hand-graded cell -> max), from the source notebook."""
    nb = notebooks.load(assignment.source_dir / assignment.notebook)
    return cells.test_points(nb), cells.manual_points(nb)


def grades(root: Path, assignment_ids=None, students=None) -> list[Grade]:
    """Every (student, assignment) of the gradebook asked for, sorted by student then
    assignment order. Raises UsageError for a missing course, an unknown assignment or student,
    or a gradebook with nothing graded."""
    from nbgrader.api import MissingEntry

    from .nbgrader_api import gradebook
    root = course.require_course(root)
    graded(root, assignment_ids, students)          # the same checks as feedback and report
    wanted = [course.get(a) for a in assignment_ids or ()] or course.available()
    found = []
    with gradebook(root) as gb:
        released = {a.name: a for a in gb.assignments}
        people = {s.id: s for s in gb.students}
        for assignment in wanted:
            if assignment.id not in released:
                continue
            auto_max, hand_max = _kinds(assignment)
            maximum = float(released[assignment.id].max_score)
            for student_id in sorted(students or people):
                person = people.get(student_id)
                grade = Grade(student_id, assignment.id, False,
                              autograded_max=sum(auto_max.values()),
                              hand_graded_max=sum(hand_max.values()), max_total=maximum,
                              name=(getattr(person, "first_name", "") or "",
                                    getattr(person, "last_name", "") or ""),
                              lms_user_id=getattr(person, "lms_user_id", "") or "")
                try:
                    submission = gb.find_submission(assignment.id, student_id)
                except MissingEntry:
                    found.append(grade)
                    continue
                grade.submitted = True
                grade.late_penalty = float(submission.late_submission_penalty or 0.0)
                _add_cells(grade, submission, hand_max)
                found.append(grade)
    return found


def _add_cells(grade: Grade, submission, hand_max: dict):
    """The submission's cell scores into `grade`, as nbgrader counts them: a manual score wins
    over the autograder's; a cell graded by hand and not graded yet is pending (None)."""
    for nb in submission.notebooks:
        for cell in nb.grades:
            score = cell.manual_score if cell.manual_score is not None else cell.auto_score
            if cell.name in hand_max:
                graded_yet = cell.manual_score is not None or not cell.needs_manual_grade
                grade.cells[cell.name] = (score if graded_yet else None, float(cell.max_score))
                grade.hand_graded += float(score or 0.0)
                grade.to_grade += 0 if graded_yet else 1
            else:
                grade.cells[cell.name] = (float(score or 0.0), float(cell.max_score))
                grade.autograded += float(score or 0.0)


# -- the formats -----------------------------------------------------------------------------

def plain_rows(table: list[Grade]) -> list[list[str]]:
    rows = [list(PLAIN_COLUMNS)]
    for g in table:
        rows.append([g.student, g.assignment, *map(points_text, (g.autograded, g.autograded_max,
                                                                 g.hand_graded, g.hand_graded_max)),
                     str(g.to_grade), *map(points_text, (g.late_penalty, g.total, g.max_total))])
    return rows


def _wide(table: list[Grade]):
    """(the assignments, student -> assignment -> Grade): a row per student."""
    assignments = list(dict.fromkeys(g.assignment for g in table))
    by_student = {}
    for g in table:
        by_student.setdefault(g.student, {})[g.assignment] = g
    return assignments, by_student


def _totals(mine: dict, assignments) -> list[str]:
    """A student's total per assignment, empty where they have no grade."""
    return [points_text(mine[a].total) if a in mine else "" for a in assignments]


def canvas_rows(table: list[Grade]) -> list[list[str]]:
    """Canvas's gradebook import: the identity columns of a Canvas export, a column per
    assignment, and the "Points Possible" row Canvas reads each new column's maximum from."""
    assignments, by_student = _wide(table)
    maxima = {g.assignment: g.max_total for g in table}
    rows = [[*CANVAS_IDENTITY, *assignments],
            [CANVAS_MAX_ROW, "", "", "", "", *(points_text(maxima[a]) for a in assignments)]]
    for student, mine in by_student.items():
        first, last = next(iter(mine.values())).name
        shown = f"{last}, {first}" if first and last else student
        lms = next(iter(mine.values())).lms_user_id
        rows.append([shown, lms, "", student, "", *_totals(mine, assignments)])
    return rows


def moodle_rows(table: list[Grade]) -> list[list[str]]:
    """Moodle's CSV grade import: an identifier column mapped to the username, then a column
    per grade item; every row below the header is a student."""
    assignments, by_student = _wide(table)
    rows = [["Username", *assignments]]
    for student, mine in by_student.items():
        rows.append([student, *_totals(mine, assignments)])
    return rows


def to_csv(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def gradescope_results(record: dict, task_names: dict, grade: Grade | None = None) -> dict:
    """One submission in Gradescope's results.json format (gradescope-autograders specs).

    The score is the gradebook's total when `grade` is given (hand-graded cells and the late
    penalty included), else the autograded total of the record."""
    by_cell = grade.cells if grade else {}
    tests = [_submission_test(record), *_check_tests(record, task_names, by_cell)]
    hand, pending = _hand_tests(record, by_cell, first=len(tests))
    total = grade.total if grade else float(record.get("total", 0))
    maximum = grade.max_total if grade else float(record.get("max_total", 0))
    return {
        "score": float(total),
        "execution_time": int(round(float(record.get("seconds", 0)))),
        "output": _overview(record, pending, grade),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"assignment": record.get("assignment"), "student": record.get("student"),
                       "status": record.get("status", ""), "max_total": float(maximum),
                       "late_penalty": float(grade.late_penalty if grade else 0.0),
                       "isolation": record.get("isolation") or "",
                       "flags": list(record.get("flags", []))},
        "tests": tests + hand,
    }


def _submission_test(record) -> dict:
    """The visible test that says whether the submission ran, and what happened."""
    events = [student_text(e) for e in record.get("events", [])]
    return {"name": "Submission", "number": "0", "score": 0.0, "max_score": 0.0,
            "status": "passed" if record.get("status") == "graded" and not events else "failed",
            "output": "\n".join([submission_summary(record), *events,
                                 *(student_text(n) for n in record.get("notes", []))]),
            "visibility": "visible"}


def _check_tests(record, task_names, by_cell) -> list[dict]:
    """A test per autograded check, shown after the due date (the hidden tests decide it); its
    score the gradebook's when the staff changed it."""
    tested = record.get("status") == "graded"
    tests = []
    for number, (check_id, check) in enumerate(record.get("checks", {}).items(), 1):
        task = task_names.get(check_id, check_id)
        score, maximum = by_cell.get(check_id, (float(check.get("points", 0)),
                                              float(check.get("max_points", 0))))
        passed = score >= maximum
        if passed:
            output = "passed"
        elif not tested:
            output = "not tested (see Submission)"
        elif check.get("passed"):
            output = "score changed by the course staff"
        else:
            output = student_message(check, task)
        tests.append({"name": f"{check_id} ({task})", "number": str(number),
                      "score": float(score), "max_score": float(maximum),
                      "status": "passed" if passed else "failed", "output": output,
                      "tags": [task], "visibility": "after_due_date"})
    return tests


def _hand_tests(record, by_cell, first: int) -> tuple[list[dict], list[str]]:
    """(a test per cell graded by hand once graded, numbered from `first`; the grade ids still
    to grade)."""
    tests, pending = [], []
    for grade_id, maximum in record.get("manual", {}).items():
        score = by_cell.get(grade_id, (None, maximum))[0]
        if score is None:
            pending.append(grade_id)
            continue
        tests.append({"name": f"{grade_id} (graded by hand)", "number": str(first + len(tests)),
                      "score": float(score), "max_score": float(maximum),
                      "output": "graded by the course staff", "visibility": "after_published"})
    return tests, pending


def _overview(record, pending, grade) -> str:
    output = [f"{record.get('assignment')}: the checks' scores appear after the due date (the "
              "hidden tests decide them). Run `python check.py` in your assignment folder to "
              "see what to fix."]
    if pending:
        output.append(f"Still to be graded by hand: {', '.join(pending)}.")
    if grade and grade.late_penalty:
        output.append(f"Late penalty: -{points_text(grade.late_penalty)} points.")
    return "\n".join(output)


def submission_summary(record: dict) -> str:
    """What a student reads first about their submission: whether it ran, and what failed."""
    status = record.get("status", "")
    if status != "graded":
        return student_text(status)
    if record.get("events"):
        return ("Your notebook was graded, but not everything in it ran (below): the checks "
                "that needed what failed lost their points.")
    return "Your notebook ran and every check was tested."


def gradescope(root: Path, assignment_ids=None, students=None, out: Path | None = None,
               log=print) -> list[Path]:
    root = Path(root)
    found = graded(root, assignment_ids, students)
    single = out is not None and Path(out).suffix == ".json"
    if single and len(found) != 1:
        raise course.UsageError(f"--out {out} is one file, but {len(found)} submissions match: "
                                "name one assignment and one --student, or give a folder")
    table = {(g.assignment, g.student): g
             for g in grades(root, sorted({a.id for a, _ in found}),
                             sorted({r["student"] for _, r in found}))}
    written = []
    names = {}
    for assignment, record in found:
        if assignment.id not in names:
            names[assignment.id] = tasks(assignment)
        path = (Path(out) if single else (Path(out) if out else root / "gradescope")
                / record["student"] / assignment.id / "results.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        results = gradescope_results(record, names[assignment.id],
                                     table.get((assignment.id, record["student"])))
        path.write_text(json.dumps(results, indent=1))
        written.append(path)
        log(f"{assignment.id} {record['student']}: {path}")
    return written


def add_arguments(parser):
    parser.add_argument("assignments", nargs="*", help="default: every graded assignment")
    parser.add_argument("--format", choices=FORMATS, default="csv",
                        help="csv (plain, every part of each grade), canvas, moodle (their "
                        "gradebook imports) or gradescope (results.json); default csv")
    course.add_course_dir(parser)
    parser.add_argument("--out", type=Path, help="a CSV: the file (default stdout); "
                        "gradescope: a results.json for one submission, or a folder")
    parser.add_argument("--student", action="append", help="only this student (repeatable)")


ROWS = {"csv": plain_rows, "canvas": canvas_rows, "moodle": moodle_rows}


def run(args) -> int:
    if args.format == "gradescope":
        written = gradescope(args.course_dir, args.assignments or None, args.student or None,
                             args.out, log=lambda line: None)
        print(f"{len(written)} results.json written"
              + (f" to {args.out}" if args.out else ""), file=sys.stderr)
        return 0
    table = grades(args.course_dir, args.assignments or None, args.student or None)
    text = to_csv(ROWS[args.format](table))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"{len({g.student for g in table})} students -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
