"""Exports carry what the gradebook holds -- autograded, hand-graded, late penalty, total, with
the assignment's maximum -- in the formats an LMS imports (Canvas, Moodle), plain CSV and
Gradescope's results.json (validated against a schema written from Gradescope's autograder
specification). After hand grading through nbgrader's own API, every format equals
`nbgrader export`."""
import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from grader import course, export, notebooks
from grader.cli import main
from grader.feedback import WITHHELD
from grader.nncheck import cells

AIDS = [a.id for a in course.available()]
ROOT = course.ROOT

# https://gradescope-autograders.readthedocs.io/en/latest/specs/ (results.json)
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
GRADESCOPE_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "score": {"type": "number"},
                "max_score": {"type": "number"},
                "status": {"enum": ["passed", "failed"]},
                "name": {"type": "string"},
                "name_format": FORMAT,
                "number": {"type": "string"},
                "output": {"type": "string"},
                "output_format": FORMAT,
                "tags": {"type": "array", "items": {"type": "string"}},
                "visibility": VISIBILITY,
                "extra_data": {"type": "object"},
            },
            "required": ["name", "score", "max_score", "output", "visibility"],
            "additionalProperties": False,
        }},
        "leaderboard": {"type": "array"},
    },
    "required": ["score", "tests", "visibility", "stdout_visibility"],
    "additionalProperties": False,
}

pytestmark = pytest.mark.slow


def _source(assignment):
    a = course.get(assignment)
    return notebooks.load(a.source_dir / a.notebook)


def _points(assignment):
    return cells.test_points(_source(assignment))


def _hand(assignment):
    return cells.manual_points(_source(assignment))


def export_rows(root, *args):
    code = main(["export", "--course-dir", str(root), *map(str, args)])
    assert code == 0
    return code


def read_csv(path):
    return list(csv.reader(io.StringIO(Path(path).read_text())))


# -- a class graded by hand, with a late submission ------------------------------------------

LATE = ("buggy", "a2_backprop")        # submitted after the due date: penalty "zero"


@pytest.fixture(scope="module")
def hand_graded(graded, tmp_path_factory):
    """The demo class after a TA's work in formgrader (through nbgrader's API): every
    hand-graded cell of `correct` and `buggy` scored, one autograded score overridden, and
    a2 due before the buggy sample's timestamp with nbgrader's "zero" late penalty."""
    from grader.nbgrader_api import gradebook
    root = tmp_path_factory.mktemp("hand") / "course"
    shutil.copytree(graded[0], root)
    with gradebook(root) as gb:
        for assignment in AIDS:
            for student, share in (("correct", 1.0), ("buggy", 0.5)):
                for grade_id, maximum in _hand(assignment).items():
                    grade = gb.find_grade(grade_id, assignment, assignment, student)
                    grade.manual_score = share * maximum
        override = next(iter(_points("a1_matrix_calculus")))
        gb.find_grade(override, "a1_matrix_calculus", "a1_matrix_calculus",
                      "untouched_release").manual_score = 1.0
        gb.update_or_create_assignment(LATE[1], duedate="2026-11-22 12:00:00 UTC")
        gb.db.commit()
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.LateSubmissionPlugin.penalty_method = 'zero'\n")
    assert main(["autograde", LATE[1], "--student", LATE[0], "--force",
                 "--course-dir", str(root)]) == 0
    return root


@pytest.fixture(scope="module")
def nbgrader_totals(hand_graded, tmp_path_factory):
    """`nbgrader export`'s own rows, run from the repository root as an instructor would:
    (student, assignment) -> its CSV row."""
    out = tmp_path_factory.mktemp("nbgrader") / "grades.csv"
    result = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "export",
                             f"--CourseDirectory.root={hand_graded}", f"--to={out}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    return {(r["student_id"], r["assignment"]): r for r in rows}


def test_the_hand_graded_class_is_what_nbgrader_says(nbgrader_totals):
    """The fixture did what it says: nbgrader's totals include the hand-graded points and the
    late penalty (so the comparisons below are not vacuous)."""
    a1 = nbgrader_totals[("correct", "a1_matrix_calculus")]
    assert float(a1["max_score"]) == 34 == sum(_points("a1_matrix_calculus").values()) \
        + sum(_hand("a1_matrix_calculus").values())
    assert float(a1["score"]) == 34
    late = nbgrader_totals[(LATE[0], LATE[1])]
    assert float(late["late_submission_penalty"]) > 0          # "zero": the whole score
    assert float(late["score"]) == 0 < float(late["raw_score"])
    assert float(nbgrader_totals[("untouched_release", "a1_matrix_calculus")]["score"]) == 1


def test_plain_csv_equals_nbgrader_export(hand_graded, nbgrader_totals, tmp_path):
    out = tmp_path / "grades.csv"
    export_rows(hand_graded, "--format", "csv", "--out", out)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == export.PLAIN_COLUMNS
    assert {(r["student_id"], r["assignment"]) for r in rows} == set(nbgrader_totals)
    for r in rows:
        theirs = nbgrader_totals[(r["student_id"], r["assignment"])]
        assert float(r["total"]) == pytest.approx(float(theirs["score"])), r
        assert float(r["max_total"]) == float(theirs["max_score"])
        assert float(r["late_penalty"]) == pytest.approx(float(theirs["late_submission_penalty"]))
        assert float(r["autograded"]) + float(r["hand_graded"]) == \
            pytest.approx(float(theirs["raw_score"]))
        assert float(r["autograded_max"]) == sum(_points(r["assignment"]).values())
        assert float(r["hand_graded_max"]) == sum(_hand(r["assignment"]).values())
    pending = {(r["student_id"], r["assignment"]): int(r["to_grade_by_hand"]) for r in rows}
    assert pending[("correct", "a3_neural_network")] == 0
    assert pending[("syntax_error", "a3_neural_network")] == len(_hand("a3_neural_network"))


def test_canvas_csv_is_canvas_import_format_and_equals_nbgrader(hand_graded, nbgrader_totals,
                                                                tmp_path):
    out = tmp_path / "canvas.csv"
    export_rows(hand_graded, "--format", "canvas", "--out", out)
    rows = read_csv(out)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *AIDS]
    assert rows[1][0] == "Points Possible" and rows[1][1:5] == ["", "", "", ""]
    for i, assignment in enumerate(AIDS):
        assert float(rows[1][5 + i]) == float(nbgrader_totals[("correct", assignment)]["max_score"])
    body = {row[3]: row for row in rows[2:]}
    assert set(body) == {s for s, _ in nbgrader_totals}
    for (student, assignment), theirs in nbgrader_totals.items():
        assert float(body[student][5 + AIDS.index(assignment)]) == \
            pytest.approx(float(theirs["score"])), (student, assignment)


def test_moodle_csv_has_only_students_below_the_header(hand_graded, nbgrader_totals, capsys):
    export_rows(hand_graded, "--format", "moodle")
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["Username", *AIDS]
    assert {r[0] for r in rows[1:]} == {s for s, _ in nbgrader_totals}
    for row in rows[1:]:
        for assignment, value in zip(AIDS, row[1:]):
            assert float(value) == pytest.approx(float(nbgrader_totals[(row[0], assignment)]["score"]))


def test_gradescope_scores_equal_nbgrader_and_list_hand_graded_cells(hand_graded,
                                                                     nbgrader_totals, tmp_path):
    out = tmp_path / "gs"
    export_rows(hand_graded, "--format", "gradescope", "--out", out)
    files = sorted(out.rglob("results.json"))
    assert len(files) == len(nbgrader_totals)
    for path in files:
        results = json.loads(path.read_text())
        jsonschema.validate(results, GRADESCOPE_SCHEMA)
        student, assignment = path.parent.parent.name, path.parent.name
        theirs = nbgrader_totals[(student, assignment)]
        assert results["score"] == pytest.approx(float(theirs["score"])), (student, assignment)
        assert results["extra_data"]["max_total"] == float(theirs["max_score"])
        by_hand = [t for t in results["tests"] if t["name"].endswith("(graded by hand)")]
        if student in ("correct", "buggy", "missing_notebook"):   # the last: zero, no notebook
            assert len(by_hand) == len(_hand(assignment))
            assert all(t["visibility"] == "after_published" for t in by_hand)
        else:
            assert by_hand == [] and "Still to be graded by hand" in results["output"]
    late = json.loads((out / LATE[0] / LATE[1] / "results.json").read_text())
    assert "Late penalty" in late["output"]


# -- the formats' own rules ------------------------------------------------------------------

def test_gradescope_results_match_the_schema(graded, tmp_path):
    root = graded[0]
    out = tmp_path / "gs"
    assert main(["export", "--format", "gradescope", "--course-dir", str(root),
                 "--out", str(out)]) == 0
    files = sorted(out.rglob("results.json"))
    assert len(files) == len(graded[1])
    for path in files:
        results = json.loads(path.read_text())
        jsonschema.validate(results, GRADESCOPE_SCHEMA)
        student, assignment = path.parent.parent.name, path.parent.name
        outcome = graded[1][(assignment, student)]
        assert results["score"] == outcome.total
        hidden = [t for t in results["tests"] if t["visibility"] == "after_due_date"]
        visible = [t for t in results["tests"] if t["visibility"] == "visible"]
        assert [t["name"].split()[0] for t in hidden] == list(_points(assignment))
        assert sum(t["score"] for t in hidden) == outcome.total
        assert sum(t["max_score"] for t in hidden) == outcome.max_total
        assert visible and all(t["max_score"] == 0 for t in visible)
        assert results["stdout_visibility"] == "hidden"
        for test in results["tests"]:
            assert "BEGIN HIDDEN" not in test["output"] and "grader.hidden" not in test["output"]


def test_gradescope_output_follows_the_student_rule():
    record = {"assignment": "a3_neural_network", "student": "s", "status": "graded",
              "total": 0.0, "max_total": 1.0, "seconds": 1.2,
              "checks": {"crossentropy": {"points": 0.0, "max_points": 1.0, "passed": False,
                                          "message": "crossentropy is 2.3, expected 2.1",
                                          "hidden_message": "SECRET"}},
              "manual": {}, "flags": ["edited a test cell"], "events": []}
    results = export.gradescope_results(record, {"crossentropy": "crossentropy"})
    jsonschema.validate(results, GRADESCOPE_SCHEMA)
    test = results["tests"][1]
    assert test["output"] == WITHHELD.format(task="crossentropy")
    assert "SECRET" not in json.dumps(results)


def test_a_submission_whose_given_cell_failed_is_not_said_to_have_run():
    record = {"assignment": "a3_neural_network", "student": "s", "status": "graded",
              "total": 1.0, "max_total": 31.0, "checks": {}, "manual": {}, "flags": [],
              "events": ["the given cell setup raised ModuleNotFoundError: No module named "
                         "'nncheck'"]}
    submission = export.gradescope_results(record, {})["tests"][0]
    assert "every check was tested" not in submission["output"]
    assert submission["status"] == "failed" and "ModuleNotFoundError" in submission["output"]


def test_one_file_needs_one_submission(graded, tmp_path):
    root = graded[0]
    one = tmp_path / "results.json"
    assert main(["export", "--format", "gradescope", "a2_backprop", "--student", "buggy",
                 "--course-dir", str(root), "--out", str(one)]) == 0
    jsonschema.validate(json.loads(one.read_text()), GRADESCOPE_SCHEMA)
    assert main(["export", "--format", "gradescope", "a2_backprop", "--course-dir", str(root),
                 "--out", str(tmp_path / "many.json")]) == 2
