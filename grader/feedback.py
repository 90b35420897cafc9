"""`grader feedback`: one HTML page per graded submission, for the student.

    <course>/feedback/<student>/<assignment>/feedback.html

Built from the results record (grader_results.json) and the autograded notebook, never with
nbgrader's generate_feedback (which shows the hidden tests verbatim): the score of every check
and what to fix, what happened (crashes, timeouts, cells that raised), and the status of the
cells graded by hand. No test code, no reference value, no solution: every text a student reads
goes through `student_message` / `student_text`, the one rule for what may be shown.
"""
from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

from . import course, leaks, notebooks
from .records import load

FEEDBACK_FILE = "feedback.html"
# errors of code that does not parse: the clean room reports each such cell or module as an
# event (grader.cleanroom.Unparsable), with its line, so the cell's own output is not repeated
UNPARSABLE = ("SyntaxError", "IndentationError", "TabError")

# "expected 0.953", "expected: -1.5", "expected [0.2, ...]", "expected array([1., ...])"; not
# "expected ':'" (Python's own syntax errors) nor a shape, "expected (3, 5)".
_EXPECTED_NUMBER = re.compile(
    r"\bexpected\b\s*(?:[:=]\s*)?(?:about\s+)?(?:array\(\s*)?\[*\s*[-+]?(?:\d|\.\d|nan\b|inf\b)",
    re.IGNORECASE)
_FAIL_PREFIX = re.compile(r"^(?:AssertionError:\s*)?\[FAIL\]\s*[\w.]+:\s*")
WITHHELD = ("the hidden test (which compares with the reference implementation) failed for "
            "{task}; the public check in your notebook shows what to fix")


def leaks_in(text: str) -> bool:
    """Whether `text` shows hidden-test code, a marker or a line of a solution."""
    if any(marker in text for marker in (*leaks.MARKERS, "hidden.run")):
        return True
    return any(line in text for line in leaks.secret_lines())


def student_message(check: dict, task: str) -> str:
    """What a student may read about one check of the results record.

    `public_message` (written by the public check, student-safe) when there is one; otherwise
    `message`, which may come from the hidden test and so may quote reference values: it is
    shown only if it has no "expected <number>", else replaced by a pointer to the public
    check. `hidden_message` is never shown. Nothing that leaks (markers, solution lines) is.
    """
    if check.get("passed"):
        return "passed"
    public = (check.get("public_message") or "").strip()
    if public:
        return WITHHELD.format(task=task) if leaks_in(public) else public
    text = _FAIL_PREFIX.sub("", (check.get("message") or "").strip())
    if not text:
        return "failed"
    if _EXPECTED_NUMBER.search(text) or leaks_in(text):
        return WITHHELD.format(task=task)
    return text


def student_text(text: str, withheld: str = "(details withheld: ask the course staff)") -> str:
    """A status line, an event or an error a student may read (the same rule, no task)."""
    text = (text or "").strip()
    if _EXPECTED_NUMBER.search(text) or leaks_in(text):
        return withheld
    return text


# -- what the grader knows about a submission -----------------------------------------------

def graded(root: Path, assignment_ids=None, students=None) -> list[tuple]:
    """(assignment, record) of every graded submission asked for. Bad input -- a course
    directory without a course, an unknown assignment, a student with no graded submission,
    nothing graded at all -- is a UsageError naming what was looked for and where."""
    root = course.require_course(root)
    assignments = [course.get(a) for a in assignment_ids or ()] or course.available()
    found = [(a, r) for a in assignments for r in load(root, a.id, students)]
    if students:
        missing = sorted(set(students) - {r["student"] for _, r in found})
        if missing:
            which = " or ".join(a.id for a in assignments) if assignment_ids else "any assignment"
            raise course.UsageError(f"no graded submission by {', '.join(missing)} of {which} "
                                    f"in {course.where(root)}")
    if not found:
        which = f" of {', '.join(assignment_ids)}" if assignment_ids else ""
        raise course.UsageError(f"no graded submission{which} in {course.where(root)}: "
                                "run `grader autograde` first")
    return found


def tasks(assignment: course.Assignment) -> dict:
    """check id -> the task it grades (Dense.backward), from the assignment's registry."""
    from .release import checks_module
    try:
        return {check_id: task for check_id, (task, _) in checks_module(assignment).CHECKS.items()}
    except Exception:   # a registry being rewritten must not stop feedback
        return {}


def bonus_ids(assignment: course.Assignment) -> frozenset:
    """The grade ids of the bonus cells, from the assignment's registry (nncheck's BONUS)."""
    from .release import checks_module
    try:
        return frozenset(getattr(checks_module(assignment), "BONUS", ()))
    except Exception:   # a registry being rewritten must not stop feedback
        return frozenset()


def manual_status(root: Path, assignment: course.Assignment, student: str) -> dict:
    """grade id -> (score or None while ungraded, max, comment) of the cells graded by hand."""
    from .nbgrader_api import gradebook, holds_gradebook
    if not holds_gradebook(root):
        return {}
    status = {}
    try:
        with gradebook(root) as gb:
            submission = gb.find_submission(assignment.id, student)
            for nb in submission.notebooks:
                comments = {c.name: c.manual_comment for c in nb.comments}
                for grade in nb.grades:
                    status[grade.name] = (grade.manual_score if grade.manual_score is not None
                                          else (None if grade.needs_manual_grade
                                                else grade.auto_score),
                                          float(grade.max_score), comments.get(grade.name) or "")
    except Exception:   # no submission in the gradebook: nothing graded by hand yet
        return {}
    return status


def cell_errors(root: Path, assignment: course.Assignment, student: str) -> list[tuple]:
    """(cell number, grade id, 'ename: evalue') for the cells other than test cells that raised
    while the notebook was graded: the student's own code, or given code it broke."""
    path = Path(root) / "autograded" / student / assignment.id / assignment.notebook
    try:
        nb = notebooks.load(path)
    except (OSError, json.JSONDecodeError):
        return []
    found = []
    for index, cell in enumerate(nb.get("cells", []), 1):
        if notebooks.is_test(cell):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append((index, notebooks.meta(cell).get("grade_id", ""),
                              f"{output.get('ename')}: {output.get('evalue')}"))
    return found


# -- the page --------------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 980px; margin: 2em auto; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 1.8em; }
.sub { color: #555; } .score { font-size: 1.3em; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin-top: .5em; }
th, td { border-bottom: 1px solid #ddd; padding: .35em .5em; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; white-space: nowrap; }
.pass { color: #17692b; font-weight: 600; } .fail { color: #a31515; font-weight: 600; }
.pending { color: #8a6d00; } .note { background: #f6f8fa; border-left: 4px solid #888;
       padding: .6em 1em; } code { background: #f3f3f3; padding: 0 .2em; }
"""


def _e(text) -> str:
    return html.escape(str(text))


def _points(n) -> str:
    return f"{float(n):g}"


def _split(entries: dict, bonus, key) -> tuple:
    """(regular, bonus) sums of entries[id][key]."""
    regular = sum(float(v.get(key, 0)) for k, v in entries.items() if k not in bonus)
    extra = sum(float(v.get(key, 0)) for k, v in entries.items() if k in bonus)
    return regular, extra


def _share(got, of) -> str:
    """'22 / 28 points + 0 / 3 bonus' (the notebook's and check.py's split)."""
    text = f"{_points(got[0])} / {_points(of[0])} points"
    return text + (f" + {_points(got[1])} / {_points(of[1])} bonus" if of[1] else "")


def render(record: dict, assignment: course.Assignment, task_names: dict, manual: dict,
           errors: list, bonus=()) -> str:
    checks = record.get("checks", {})
    failed = [c for c in checks.values() if not c.get("passed")]
    status = record.get("status", "")
    rows = []
    for check_id, check in checks.items():
        task = task_names.get(check_id, check_id)
        ok = check.get("passed")
        if ok:
            message = ""
        elif status.startswith("zero"):
            message = "not tested (see What happened)"
        elif "setup cell failed" in status:
            message = "not tested: the notebook's first cell failed (see What happened)"
        else:
            message = student_message(check, task)
        rows.append(
            f"<tr><td><code>{_e(check_id)}</code></td><td>{_e(task)}</td>"
            f"<td class='num'>{_points(check.get('points', 0))} / "
            f"{_points(check.get('max_points', 0))}</td>"
            f"<td class='{'pass' if ok else 'fail'}'>{'passed' if ok else 'failed'}</td>"
            f"<td>{_e(message)}</td></tr>")
    happened = []
    if status != "graded":
        happened.append(student_text(status))
    happened += [student_text(event) for event in record.get("events", [])]
    happened += [student_text(note) for note in record.get("notes", [])]
    setup_failed = "setup cell failed" in status
    happened += [student_text(f"cell {n}{f' ({gid})' if gid else ''} raised {error}")
                 for n, gid, error in errors
                 if not (setup_failed and gid == "setup")
                 and not error.startswith(UNPARSABLE)]     # the grader's events say it, once
    manual_rows, manual_done, manual_max, manual_pending = [], 0.0, 0.0, 0
    for grade_id, maximum in record.get("manual", {}).items():
        score, _, comment = manual.get(grade_id, (None, maximum, ""))
        manual_max += float(maximum)
        if score is None:
            manual_pending += 1
            state = "<span class='pending'>not graded yet</span>"
        else:
            manual_done += float(score)
            state = f"{_points(score)} / {_points(maximum)}"
        manual_rows.append(f"<tr><td><code>{_e(grade_id)}</code></td>"
                           f"<td class='num'>{_points(maximum)}</td><td>{state}</td>"
                           f"<td>{_e(student_text(comment, '(comment withheld)'))}</td></tr>")
    earned, possible = _split(checks, bonus, "points"), _split(checks, bonus, "max_points")
    done = {g: (manual.get(g, (None,))[0] or 0.0) for g in record.get("manual", {})}
    hand_done = _split({g: {"v": v} for g, v in done.items()}, bonus, "v")
    hand_max = _split({g: {"v": m} for g, m in record.get("manual", {}).items()}, bonus, "v")
    hand = ""
    if manual_rows:
        hand = (f" &middot; graded by hand: {_share(hand_done, hand_max)}"
                + (f" ({manual_pending} cell{'s' if manual_pending != 1 else ''} still to grade)"
                   if manual_pending else ""))
    parts = [
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>Feedback: {_e(assignment.id)} ({_e(record.get('student'))})</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{_e(assignment.title)}</h1>",
        f"<p class='sub'>Feedback for <b>{_e(record.get('student'))}</b> on "
        f"<code>{_e(assignment.id)}</code></p>",
        f"<p class='score'>Autograded: {_share(earned, possible)}{hand}</p>",
        f"<p>{len(checks) - len(failed)} of {len(checks)} checks passed.</p>",
    ]
    if happened:
        parts.append("<h2>What happened</h2><ul>"
                     + "".join(f"<li>{_e(item)}</li>" for item in happened) + "</ul>")
    parts.append("<h2>Autograded checks</h2><table><thead><tr><th>Check</th><th>Task</th>"
                 "<th>Points</th><th>Result</th><th>What to fix</th></tr></thead><tbody>"
                 + "".join(rows) + "</tbody></table>")
    if manual_rows:
        parts.append("<h2>Graded by hand</h2><table><thead><tr><th>Cell</th><th>Points</th>"
                     "<th>Status</th><th>Comment</th></tr></thead><tbody>"
                     + "".join(manual_rows) + "</tbody></table>")
    parts.append(
        "<h2>Finding the cause</h2><p class='note'>The grade comes from hidden tests that run "
        "the same checks as your notebook's test cells on more cases"
        + (", next to a reference implementation" if assignment.modules else "")
        + ". In your assignment folder, <code>python check.py</code> runs every public check "
        "and says, for each failure, what is wrong and where (which layer or function, which "
        "gradient, which entry, your value and the numerical one, and a hint for well-known "
        "mistakes); <code>python check.py CHECK</code> runs one.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def feedback(root: Path, assignment_ids=None, students=None, log=print) -> list[Path]:
    root = Path(root)
    written = []
    names = {}
    for assignment, record in graded(root, assignment_ids, students):
        if assignment.id not in names:
            names[assignment.id] = tasks(assignment)
        student = record["student"]
        page = render(record, assignment, names[assignment.id],
                      manual_status(root, assignment, student),
                      cell_errors(root, assignment, student), bonus_ids(assignment))
        path = page_path(root, assignment.id, student)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page)
        written.append(path)
        log(f"{assignment.id} {student}: {path}")
    return written


def page_path(root: Path, assignment_id: str, student: str) -> Path:
    return Path(root) / "feedback" / student / assignment_id / FEEDBACK_FILE


def add_arguments(parser):
    parser.add_argument("assignments", nargs="*", help="default: every graded assignment")
    parser.add_argument("--course-dir", type=Path, default=course.DEFAULT_COURSE,
                        help=f"default: {course.DEFAULT_COURSE}")
    parser.add_argument("--student", action="append", help="only this student (repeatable)")


def run(args) -> int:
    written = feedback(args.course_dir, args.assignments or None, args.student or None,
                       log=lambda line: None)
    print(f"{len(written)} feedback pages under {Path(args.course_dir) / 'feedback'}")
    return 0
