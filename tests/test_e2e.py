"""End to end through nbgrader: release, grade the demo class, check every score and reason."""
import subprocess

import pytest

from grader import course, demo, notebooks
from grader.nncheck import cells
from grader.samples import for_assignment

pytestmark = pytest.mark.slow


def _tests(assignment):
    return cells.test_points(notebooks.load(assignment.source_dir / assignment.notebook))


def test_every_sample_scores_as_expected(graded):
    root, outcomes, wrong, log = graded
    assert not wrong, log
    assert {a for a, _ in outcomes} == {a.id for a in course.available()}
    assert len(outcomes) == len(course.available()) * len(demo.SAMPLES)


@pytest.mark.parametrize("assignment", [a.id for a in course.available()])
def test_correct_full_marks_and_buggy_loses_exactly_its_checks(graded, assignment):
    _, outcomes, _, _ = graded
    a = course.get(assignment)
    points = _tests(a)
    correct = outcomes[(assignment, "correct")]
    assert correct.scores == {k: (p, p) for k, p in points.items()}
    buggy = outcomes[(assignment, "buggy")]
    lost = {k for k, (s, m) in buggy.scores.items() if s < m}
    assert lost == for_assignment(assignment).BUGGY_LOSES
    assert set(buggy.messages) == lost


def test_seed000_bugs_are_explained(graded):
    _, outcomes, _, _ = graded
    messages = outcomes[("a3_neural_network", "buggy")].messages
    assert "summed over the batch" in messages["dense_grad_params"]
    assert "w.r.t. the probabilities" in messages["grad_crossentropy"]
    assert "Dropout" in messages["dropout_train"]
    assert messages["training"].startswith("training depends on Dense.backward (check "
                                           "dense_grad_params) and grad_crossentropy")


@pytest.mark.parametrize("student", ["syntax_error", "missing_notebook", "untouched_release"])
def test_broken_submissions_are_graded_zero_where_due_not_skipped(graded, student):
    _, outcomes, _, _ = graded
    for assignment in course.available():
        o = outcomes[(assignment.id, student)]
        assert o.max_total == sum(_tests(assignment).values())
        assert o.total == demo.expected_score(student, assignment)
        kept = getattr(for_assignment(assignment.id), "SYNTAX_KEEPS", set())
        assert {k for k, (s, m) in o.scores.items() if s == m} == (
            kept if student == "syntax_error" else set())
    if student == "missing_notebook":
        assert "missing" in outcomes[("a3_neural_network", student)].status


def test_untouched_release_fails_every_test_cell_and_correct_passes_every_one(graded):
    root = graded[0]
    for assignment in course.available():
        for student, should_fail in (("untouched_release", True), ("correct", False)):
            nb = notebooks.load(root / "autograded" / student / assignment.id / assignment.notebook)
            for cell in nb["cells"]:
                if cells.is_test(cell):
                    errored = any(o["output_type"] == "error" for o in cell.get("outputs", []))
                    assert errored == should_fail, (assignment.id, student,
                                                    cells.meta(cell)["grade_id"])


def test_the_students_module_is_what_gets_graded(graded):
    root = graded[0]
    graded_layers = root / "autograded" / "buggy" / "a3_neural_network" / "layers.py"
    assert "np.ones(self.biases.shape[0])" in graded_layers.read_text()


def test_release_contains_no_marker_and_no_solution(graded):
    root = graded[0]
    found = subprocess.run(["grep", "-rl", r"BEGIN SOLUTION\|BEGIN HIDDEN TESTS", str(root / "release")],
                           capture_output=True, text=True)
    assert found.stdout == ""
    from grader import leaks
    for assignment in course.available():
        assert leaks.scan(root / "release" / assignment.id) == []


def test_gradebook_has_a_submission_for_every_sample(graded):
    from grader.nbgrader_api import gradebook
    root = graded[0]
    with gradebook(root) as gb:
        for assignment in course.available():
            students = {s.student.id for s in gb.find_assignment(assignment.id).submissions}
            assert students == set(demo.SAMPLES)
