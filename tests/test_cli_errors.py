"""Bad input gets one clear line and the documented exit code (README: 0 ok, 1 a result is
wrong, 2 bad usage), and a failed run creates nothing. Each command runs as an instructor runs
it: `python -m grader ...` in a shell, from the repository root."""
import json
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

from grader import course

ROOT = course.ROOT

pytestmark = pytest.mark.slow


def grader(*args, cwd=ROOT):
    result = subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout, result.stderr


def one_line(stderr):
    """The error, as the one line a command prints (the progress bar aside)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def release_a1(root):
    code, _, err = grader("release", "a1_matrix_calculus", "--course-dir", root)
    assert code == 0, err


def regrade(root, student):
    """`grader autograde` of one a1 submission again."""
    return grader("autograde", "a1_matrix_calculus", "--student", student, "--force",
                  "--course-dir", root)


@pytest.fixture
def course_copy(graded, tmp_path):
    """A copy of the graded demo class that a test may change."""
    root = tmp_path / "course"
    shutil.copytree(graded[0], root)
    return root


@pytest.mark.parametrize("verb", ["release", "autograde", "feedback", "report", "export"])
def test_an_unknown_assignment_is_bad_usage(verb, graded):
    code, out, err = grader(verb, "a9_nothing", "--course-dir", graded[0])
    assert code == 2
    line = one_line(err)
    assert line.startswith(f"grader {verb}: unknown assignment 'a9_nothing'")
    assert "a1_matrix_calculus" in line


@pytest.mark.parametrize("verb", ["autograde", "feedback", "report", "export"])
def test_a_course_dir_that_does_not_exist_is_named_and_nothing_is_created(verb, tmp_path):
    missing = tmp_path / "nonexistent" / "course"
    code, out, err = grader(verb, "--course-dir", missing)
    assert code == 2
    assert one_line(err) == f"grader {verb}: {missing} does not exist: check --course-dir"
    assert out == ""
    assert not (tmp_path / "nonexistent").exists(), "nothing is created on a failed run"


def test_an_empty_folder_is_not_a_course_and_gets_no_gradebook(tmp_path):
    code, _, err = grader("autograde", "--course-dir", tmp_path)
    assert code == 2 and "holds no course (no gradebook.db)" in one_line(err)
    assert list(tmp_path.iterdir()) == []


def test_autograde_of_a_student_who_did_not_submit(graded):
    code, out, err = grader("autograde", "a1_matrix_calculus", "--student", "nobody",
                            "--course-dir", graded[0])
    assert code == 2
    line = one_line(err)
    assert "no submission of a1_matrix_calculus by nobody" in line
    assert str(graded[0] / "submitted") in line


@pytest.mark.parametrize("verb", ["feedback", "export"])
def test_a_student_with_no_graded_submission(verb, graded):
    code, out, err = grader(verb, "--student", "nobody", "--course-dir", graded[0])
    assert code == 2
    assert "no graded submission by nobody" in one_line(err)
    assert "run `grader autograde` first" not in err     # the class is graded


@pytest.mark.parametrize("verb", ["feedback", "report", "export"])
def test_a_released_class_with_nothing_graded_says_so(verb, tmp_path):
    root = tmp_path / "course"
    release_a1(root)
    code, out, err = grader(verb, "--course-dir", root)
    assert code == 2
    assert "no graded submission" in one_line(err) and "grader autograde" in err


def test_autograde_with_nothing_submitted_says_where_it_looked(tmp_path):
    root = tmp_path / "course"
    release_a1(root)
    code, out, err = grader("autograde", "--course-dir", root)
    assert code == 2
    line = one_line(err)
    assert "nothing to grade" in line and str(root / "submitted") in line


def test_a_submission_recorded_as_zero_exits_1(course_copy):
    code, out, err = regrade(course_copy, "missing_notebook")
    assert code == 1, out + err
    assert "missing_notebook" in out and "recorded as zero" in out
    record = json.loads((course_copy / "autograded" / "missing_notebook" / "a1_matrix_calculus"
                         / "grader_results.json").read_text())
    assert record["status"].startswith("zero")


def test_a_correct_submission_exits_0(course_copy):
    code, out, err = regrade(course_copy, "correct")
    assert code == 0, out + err


def test_gradescope_export_to_one_file_for_many_submissions_is_bad_usage(graded, tmp_path):
    code, _, err = grader("export", "--format", "gradescope", "a2_backprop", "--course-dir",
                          graded[0], "--out", tmp_path / "many.json")
    assert code == 2 and "is one file" in one_line(err)
    assert not (tmp_path / "many.json").exists()


def test_demo_never_replaces_a_class_that_is_not_the_demo(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    (root / "gradebook.db").write_text("a real class")
    code, _, err = grader("demo", "--course-dir", root)
    assert code == 2 and "is not the demo" in one_line(err)
    assert (root / "gradebook.db").read_text() == "a real class"


# -- one course directory: the demo's, where every command and plain nbgrader look -----------

def test_every_command_and_nbgrader_look_in_the_same_default_course_dir():
    from traitlets.config.loader import PyFileConfigLoader

    from grader.cli import parser
    p = parser()
    for verb in ("release", "autograde", "feedback", "report", "export", "demo"):
        args = p.parse_args([verb] + (["--format", "csv"] if verb == "export" else []))
        assert args.course_dir == course.DEFAULT_COURSE, verb
    c = PyFileConfigLoader("nbgrader_config.py", str(ROOT)).load_config()
    assert c.CourseDirectory.root == str(course.DEFAULT_COURSE.resolve())
    assert c.Exchange.root == str(course.EXCHANGE)
    assert course.EXCHANGE.parent == course.DEFAULT_COURSE.parent == course.BUILD


def test_plain_nbgrader_works_on_the_graded_class_from_the_repository_root(graded):
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    students = subprocess.run([nbgrader, "db", "student", "list",
                               f"--CourseDirectory.root={graded[0]}"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert students.returncode == 0, students.stderr
    from grader import demo
    for student in demo.SAMPLES:
        assert student in students.stdout
    listed = subprocess.run([nbgrader, "list"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert listed.returncode == 0, listed.stderr           # the exchange is under build/


def test_a_missing_default_course_says_how_to_make_one_and_how_to_point_elsewhere(
        monkeypatch, tmp_path):
    monkeypatch.setattr(course, "DEFAULT_COURSE", tmp_path / "course")
    with pytest.raises(course.UsageError) as error:
        course.require_course(tmp_path / "course")
    message = str(error.value)
    assert "the default course directory; --course-dir DIR for another" in message
    assert "grader demo" in message
