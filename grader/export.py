"""`grader export`: the grades in other systems' formats.

    grader export --format csv [ASSIGNMENT...] [--out FILE] [--no-max-row]
    grader export --format gradescope [ASSIGNMENT...] [--student ID] [--out FILE|DIR]

`csv` -- one row per student, a column per assignment with the autograded total (empty: no
submission), for an LMS gradebook import (Canvas, Moodle): the header is "Student ID" then the
assignment ids, and the first row, "Points Possible", holds each assignment's maximum (Canvas
reads it; leave it out for Moodle with --no-max-row). Without --out the CSV goes to stdout.

`gradescope` -- Gradescope's autograder results.json per submission: one test per check with
its score, visible to the student after the due date (the hidden tests decide it; the output
is the student-safe message), and one visible, unscored test saying whether the submission ran.
`--out FILE.json` for a single submission (what run_autograder uses), else a folder (default
<course-dir>/gradescope) that gets <student>/<assignment>/results.json.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from . import course
from .feedback import (assignments_with_records, records, student_message, student_text,
                       tasks)

MAX_ROW = "Points Possible"
ID_COLUMN = "Student ID"


def _g(n) -> str:
    return f"{float(n):g}"


def grade_table(root: Path, assignment_ids=None, max_row: bool = True) -> list[list[str]]:
    """Header, optional maximum row, then one row per student (sorted)."""
    assignments = assignments_with_records(root, assignment_ids)
    by_assignment = {a.id: {r["student"]: r for r in records(root, a.id)} for a in assignments}
    students = sorted({s for recs in by_assignment.values() for s in recs})
    rows = [[ID_COLUMN, *(a.id for a in assignments)]]
    if max_row:
        rows.append([MAX_ROW, *(_g(max((r.get("max_total", 0) for r in recs.values()),
                                       default=0)) for recs in by_assignment.values())])
    for student in students:
        rows.append([student, *(_g(recs[student]["total"]) if student in recs else ""
                                for recs in by_assignment.values())])
    return rows


def to_csv(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def gradescope_results(record: dict, task_names: dict) -> dict:
    """One submission in Gradescope's results.json format (gradescope-autograders specs)."""
    status = record.get("status", "")
    tested = status == "graded"
    ran = ("Your notebook ran and every check was tested." if tested
           else student_text(status))
    events = [student_text(e) for e in record.get("events", [])]
    tests = [{"name": "Submission", "number": "0", "score": 0.0, "max_score": 0.0,
              "status": "passed" if tested else "failed",
              "output": "\n".join([ran, *events]), "visibility": "visible"}]
    for number, (check_id, check) in enumerate(record.get("checks", {}).items(), 1):
        task = task_names.get(check_id, check_id)
        passed = bool(check.get("passed"))
        if passed:
            output = "passed"
        elif not tested:
            output = "not tested (see Submission)"
        else:
            output = student_message(check, task)
        tests.append({"name": f"{check_id} ({task})", "number": str(number),
                      "score": float(check.get("points", 0)),
                      "max_score": float(check.get("max_points", 0)),
                      "status": "passed" if passed else "failed", "output": output,
                      "tags": [task], "visibility": "after_due_date"})
    total, maximum = float(record.get("total", 0)), float(record.get("max_total", 0))
    return {
        "score": total,
        "execution_time": int(round(float(record.get("seconds", 0)))),
        "output": (f"{record.get('assignment')}: the checks' scores appear after the due date "
                   "(the hidden tests decide them). Run `python check.py` in your assignment "
                   "folder to see what to fix."),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"assignment": record.get("assignment"), "student": record.get("student"),
                       "status": status, "max_total": maximum,
                       "flags": list(record.get("flags", []))},
        "tests": tests,
    }


def gradescope(root: Path, assignment_ids=None, students=None, out: Path | None = None,
               log=print) -> list[Path]:
    root = Path(root)
    found = [(a, r) for a in assignments_with_records(root, assignment_ids)
             for r in records(root, a.id, students)]
    single = out is not None and Path(out).suffix == ".json"
    if single and len(found) != 1:
        raise SystemExit(f"--out {out} is one file, but {len(found)} submissions match: "
                         "name one assignment and one --student, or give a folder")
    written = []
    names = {}
    for assignment, record in found:
        if assignment.id not in names:
            names[assignment.id] = tasks(assignment)
        path = (Path(out) if single else (Path(out) if out else root / "gradescope")
                / record["student"] / assignment.id / "results.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(gradescope_results(record, names[assignment.id]), indent=1))
        written.append(path)
        log(f"{assignment.id} {record['student']}: {path}")
    return written


def add_arguments(parser):
    parser.add_argument("assignments", nargs="*", help="default: every graded assignment")
    parser.add_argument("--format", choices=("csv", "gradescope"), default="csv")
    parser.add_argument("--course-dir", type=Path, default=course.BUILD / "course")
    parser.add_argument("--out", type=Path, help="csv: the file (default stdout); gradescope: "
                        "a results.json for one submission, or a folder")
    parser.add_argument("--student", action="append", help="only this student (repeatable)")
    parser.add_argument("--no-max-row", dest="max_row", action="store_false",
                        help=f"csv: leave out the '{MAX_ROW}' row")


def run(args) -> int:
    if args.format == "csv":
        rows = grade_table(args.course_dir, args.assignments or None, args.max_row)
        if args.student:
            rows = [row for i, row in enumerate(rows)
                    if i == 0 or row[0] == MAX_ROW or row[0] in args.student]
        text = to_csv(rows)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text)
            print(f"{len(rows) - 1 - args.max_row} students -> {args.out}", file=sys.stderr)
        else:
            sys.stdout.write(text)
        return 0 if len(rows) > 1 + args.max_row else 1
    written = gradescope(args.course_dir, args.assignments or None, args.student or None,
                         args.out, log=lambda line: print(line, file=sys.stderr))
    return 0 if written else 1
