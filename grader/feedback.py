"""`grader feedback`: one HTML page per graded submission, for the student.

    <course>/feedback/<student>/<assignment>/feedback.html

Built from the results record (grader_results.json) and the autograded notebook, never with
nbgrader's generate_feedback (which shows the hidden tests verbatim): the score of every check
and what to fix, what happened (crashes, timeouts, cells that raised), and the status of the
cells graded by hand. No test code, no reference value, no solution: every text a student reads
goes through `student_message` / `student_text`, the one rule for what may be shown.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from . import course, leaks, notebooks
from .nncheck import cells
from .nncheck.cells import points_text
from .pages import document, escape
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

    `public_message` (written by the public check, student-safe: what records.Outcome saves)
    when there is one; otherwise `message` (a record without public_message), which may come
    from the hidden test and so may quote reference values: it is shown only if it has no
    "expected <number>", else replaced by a pointer to the public check. `hidden_message` is
    never shown. Nothing that leaks (markers, solution lines) is.
    """
    if check.get("passed"):
        return "passed"
    public = (check.get("public_message") or "").strip()
    if public:
        return WITHHELD.format(task=task) if leaks_in(public) else public
    text = bare_message(check.get("message"))
    if not text:
        return "failed"
    if _EXPECTED_NUMBER.search(text) or leaks_in(text):
        return WITHHELD.format(task=task)
    return text


def bare_message(text) -> str:
    """A check's message without the "[FAIL] check_id:" its test puts before it."""
    return _FAIL_PREFIX.sub("", (text or "").strip())


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
    from .course import checks_module
    try:
        return {check_id: task for check_id, (task, _) in checks_module(assignment).CHECKS.items()}
    except Exception:   # a registry being rewritten must not stop feedback
        return {}


def bonus_ids(assignment: course.Assignment) -> frozenset:
    """The grade ids of the bonus cells, from the assignment's registry (nncheck's BONUS)."""
    from .course import checks_module
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
        if cells.is_test(cell):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append((index, cells.meta(cell).get("grade_id", ""),
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


def _split(points: dict, bonus) -> tuple:
    """(regular, bonus) sums of id -> points."""
    regular = sum(float(v) for k, v in points.items() if k not in bonus)
    extra = sum(float(v) for k, v in points.items() if k in bonus)
    return regular, extra


def _share(got, of) -> str:
    """'22 / 28 points + 0 / 3 bonus' (the notebook's and check.py's split)."""
    text = f"{points_text(got[0])} / {points_text(of[0])} points"
    return text + (f" + {points_text(got[1])} / {points_text(of[1])} bonus" if of[1] else "")


def render(record: dict, assignment: course.Assignment, task_names: dict, manual: dict,
           errors: list, bonus=()) -> str:
    """The page: the score, what happened, the checks, the cells graded by hand, and where to
    look for the cause. `manual`: grade id -> (score or None, max, comment), the gradebook's;
    `errors`: (cell number, grade id, error) of the cells that raised."""
    checks = record.get("checks", {})
    passed = sum(1 for c in checks.values() if c.get("passed"))
    body = [f"<h1>{escape(assignment.title)}</h1>",
            f"<p class='sub'>Feedback for <b>{escape(record.get('student'))}</b> on "
            f"<code>{escape(assignment.id)}</code></p>",
            f"<p class='score'>Autograded: {_score(record, manual, bonus)}</p>",
            f"<p>{passed} of {len(checks)} checks passed.</p>",
            *_happened(record, errors), _checks(record, task_names),
            *_by_hand(record, manual), _finding_the_cause(assignment)]
    return document(f"Feedback: {assignment.id} ({record.get('student')})", STYLE, body)


def _score(record, manual, bonus) -> str:
    """The autograded points, and once there are cells graded by hand, theirs."""
    checks = record.get("checks", {})
    line = _share(_split({c: v.get("points", 0) for c, v in checks.items()}, bonus),
                  _split({c: v.get("max_points", 0) for c, v in checks.items()}, bonus))
    maxima = record.get("manual", {})
    if not maxima:
        return line
    scores = {g: manual.get(g, (None,))[0] for g in maxima}
    done = _split({g: score or 0.0 for g, score in scores.items()}, bonus)
    pending = sum(1 for score in scores.values() if score is None)
    return (f"{line} &middot; graded by hand: {_share(done, _split(maxima, bonus))}"
            + (f" ({pending} cell{'s' if pending != 1 else ''} still to grade)" if pending
               else ""))


def _happened(record, errors) -> list[str]:
    """What went wrong while grading, as the student may read it: the status, the grader's
    events and notes, the cells that raised (a cell that does not parse is an event already)."""
    status = record.get("status", "")
    setup_failed = "setup cell failed" in status
    happened = [student_text(status)] if status != "graded" else []
    happened += [student_text(event) for event in record.get("events", [])]
    happened += [student_text(note) for note in record.get("notes", [])]
    happened += [student_text(f"cell {n}{f' ({gid})' if gid else ''} raised {error}")
                 for n, gid, error in errors
                 if not (setup_failed and gid == "setup") and not error.startswith(UNPARSABLE)]
    if not happened:
        return []
    return ["<h2>What happened</h2><ul>"
            + "".join(f"<li>{escape(item)}</li>" for item in happened) + "</ul>"]


def _checks(record, task_names) -> str:
    status = record.get("status", "")
    rows = []
    for check_id, check in record.get("checks", {}).items():
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
            f"<tr><td><code>{escape(check_id)}</code></td><td>{escape(task)}</td>"
            f"<td class='num'>{points_text(check.get('points', 0))} / "
            f"{points_text(check.get('max_points', 0))}</td>"
            f"<td class='{'pass' if ok else 'fail'}'>{'passed' if ok else 'failed'}</td>"
            f"<td>{escape(message)}</td></tr>")
    return ("<h2>Autograded checks</h2><table><thead><tr><th>Check</th><th>Task</th>"
            "<th>Points</th><th>Result</th><th>What to fix</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _by_hand(record, manual) -> list[str]:
    """The cells graded by hand: points, whether graded yet, the grader's comment."""
    rows = []
    for grade_id, maximum in record.get("manual", {}).items():
        score, _, comment = manual.get(grade_id, (None, maximum, ""))
        state = ("<span class='pending'>not graded yet</span>" if score is None
                 else f"{points_text(score)} / {points_text(maximum)}")
        rows.append(f"<tr><td><code>{escape(grade_id)}</code></td>"
                    f"<td class='num'>{points_text(maximum)}</td><td>{state}</td>"
                    f"<td>{escape(student_text(comment, '(comment withheld)'))}</td></tr>")
    if not rows:
        return []
    return ["<h2>Graded by hand</h2><table><thead><tr><th>Cell</th><th>Points</th>"
            "<th>Status</th><th>Comment</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>"]


def _finding_the_cause(assignment) -> str:
    return ("<h2>Finding the cause</h2><p class='note'>The grade comes from hidden tests that "
            "run the same checks as your notebook's test cells on more cases"
            + (", next to a reference implementation" if assignment.modules else "")
            + ". In your assignment folder, <code>python check.py</code> runs every public "
            "check and says, for each failure, what is wrong and where (which layer or function, "
            "which gradient, which entry, your value and the numerical one, and a hint for "
            "well-known mistakes); <code>python check.py CHECK</code> runs one.</p>")


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
    course.add_course_dir(parser)
    parser.add_argument("--student", action="append", help="only this student (repeatable)")


def run(args) -> int:
    written = feedback(args.course_dir, args.assignments or None, args.student or None,
                       log=lambda line: None)
    print(f"{len(written)} feedback pages under {Path(args.course_dir) / 'feedback'}")
    return 0
