"""Exports: a CSV an LMS imports, and Gradescope's results.json (validated against a schema
written from Gradescope's autograder specification)."""
import csv
import io
import json
import os
import subprocess
import sys

import jsonschema
import pytest

from grader import course, demo, export, notebooks
from grader.cli import main
from grader.feedback import WITHHELD

AIDS = [a.id for a in course.available()]
ROOT = course.ROOT

# https://gradescope-autograders.readthedocs.io/en/latest/specs/ (results.json)
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
GRADESCOPE_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
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
                "name_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
                "number": {"type": "string"},
                "output": {"type": "string"},
                "output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
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


def _points(assignment):
    a = course.get(assignment)
    return notebooks.test_points(notebooks.load(a.source_dir / a.notebook))


def test_csv_has_a_row_per_student_and_a_column_per_assignment(graded, tmp_path):
    root = graded[0]
    out = tmp_path / "grades.csv"
    assert main(["export", "--format", "csv", "--course-dir", str(root), "--out", str(out)]) == 0
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0] == ["Student ID", *AIDS]
    assert rows[1] == [export.MAX_ROW, *(f"{sum(_points(a).values()):g}" for a in AIDS)]
    body = {row[0]: row[1:] for row in rows[2:]}
    assert set(body) == set(demo.SAMPLES)
    for i, assignment in enumerate(AIDS):
        for student in demo.SAMPLES:
            expected = demo.expected_score(student, course.get(assignment))
            assert float(body[student][i]) == expected, (student, assignment)
    readers = list(csv.DictReader(io.StringIO(out.read_text())))
    assert all(set(r) == {"Student ID", *AIDS} for r in readers)


def test_csv_without_max_row_for_moodle(graded, capsys):
    assert main(["export", "--course-dir", str(graded[0]), "--no-max-row",
                 "a1_matrix_calculus"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["Student ID", "a1_matrix_calculus"]
    assert len(rows) == 1 + len(demo.SAMPLES) and export.MAX_ROW not in {r[0] for r in rows}


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


def test_one_file_needs_one_submission(graded, tmp_path):
    root = graded[0]
    one = tmp_path / "results.json"
    assert main(["export", "--format", "gradescope", "a2_backprop", "--student", "buggy",
                 "--course-dir", str(root), "--out", str(one)]) == 0
    jsonschema.validate(json.loads(one.read_text()), GRADESCOPE_SCHEMA)
    with pytest.raises(SystemExit):
        main(["export", "--format", "gradescope", "a2_backprop", "--course-dir", str(root),
              "--out", str(tmp_path / "many.json")])


def test_run_autograder_grades_one_upload_like_gradescope(graded, tmp_path):
    """The Gradescope entry script, with /autograder moved to a temporary folder."""
    autograder = tmp_path / "autograder"
    submission = autograder / "submission"
    submission.mkdir(parents=True)
    source = graded[0] / "submitted" / "buggy" / "a1_matrix_calculus"
    (submission / "a1_matrix_calculus.ipynb").write_bytes(
        (source / "a1_matrix_calculus.ipynb").read_bytes())
    env = {**os.environ, "AUTOGRADER_DIR": str(autograder), "GRADER_SOURCE": str(ROOT),
           "GRADER": f"{sys.executable} -m grader"}
    script = ROOT / "grader" / "templates" / "gradescope" / "run_autograder"
    result = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((autograder / "results" / "results.json").read_text())
    jsonschema.validate(results, GRADESCOPE_SCHEMA)
    assert results["score"] == demo.expected_score("buggy", course.get("a1_matrix_calculus"))
    assert results["extra_data"]["assignment"] == "a1_matrix_calculus"


def test_run_autograder_explains_an_upload_without_a_notebook(tmp_path):
    autograder = tmp_path / "autograder"
    (autograder / "submission").mkdir(parents=True)
    (autograder / "submission" / "notes.txt").write_text("oops")
    env = {**os.environ, "AUTOGRADER_DIR": str(autograder), "GRADER_SOURCE": str(ROOT),
           "GRADER": f"{sys.executable} -m grader"}
    script = ROOT / "grader" / "templates" / "gradescope" / "run_autograder"
    result = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
    results = json.loads((autograder / "results" / "results.json").read_text())
    jsonschema.validate(results, GRADESCOPE_SCHEMA)
    assert results["score"] == 0 and "No assignment notebook" in results["output"]
