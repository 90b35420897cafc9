"""Student feedback: scores, what to fix, what happened -- and never a hidden test, a
reference value or a solution line."""
import html
import json
import shutil

import pytest

from grader import course, feedback, leaks, notebooks, records
from grader.cli import main
from grader.nncheck import cells

AIDS = [a.id for a in course.available()]
FORBIDDEN = ("BEGIN HIDDEN", "grader.hidden", "hidden.run", "source_layers", "BEGIN SOLUTION")


# -- the one rule: student_message -----------------------------------------------------------

def test_a_plain_message_is_shown_without_the_test_prefix():
    check = {"passed": False, "message": "AssertionError: [FAIL] dropout_train: Dropout.forward "
                                         "must return a numpy array, got NoneType"}
    assert feedback.student_message(check, "Dropout") == \
        "Dropout.forward must return a numpy array, got NoneType"


@pytest.mark.parametrize("message", [
    "crossentropy is 2.31, expected 2.30259",
    "output[0, 1] is 0.5, Expected: -0.25",
    "recorded accuracy 0.1/0.2, expected 0.953/0.940 (use the weights passed in)",
    "values differ: expected [0.1, 0.2]",
    "expected array([1., 2.])",
    "kept units are scaled by 1.5, expected about 2",
    "the mean is nan, expected .5",
])
def test_a_hidden_message_with_an_expected_number_is_withheld(message):
    shown = feedback.student_message({"passed": False, "message": message}, "Dense.backward")
    assert shown == feedback.WITHHELD.format(task="Dense.backward")
    assert "failed for Dense.backward" in shown and "public check" in shown


@pytest.mark.parametrize("message", [
    "SyntaxError: expected ':' (layers.py, line 118)",
    "Dense.forward returned shape (5, 3), expected (3, 5)",
    "returned shape (5, 3), expected shape (3, 5)",
    "gradient of biases[0] is 1 but the numerical gradient is 4.52261",
    "the unexpected 3 is fine",
])
def test_a_message_without_an_expected_number_is_shown(message):
    assert feedback.student_message({"passed": False, "message": message}, "t") == message


def test_public_message_wins_and_hidden_message_is_never_shown():
    check = {"passed": False, "message": "crossentropy is 2.31, expected 2.30259",
             "public_message": "crossentropy must be the mean over the batch",
             "hidden_message": "SECRET reference value 2.30259"}
    assert feedback.student_message(check, "crossentropy") == \
        "crossentropy must be the mean over the batch"
    only_hidden = {"passed": False, "hidden_message": "SECRET reference value 2.30259"}
    assert "SECRET" not in feedback.student_message(only_hidden, "crossentropy")


def test_markers_and_solution_lines_are_withheld_even_from_public_messages():
    line = sorted(leaks.secret_lines())[0]
    for text in (f"your code: {line}", "from grader.hidden import a3", "### BEGIN HIDDEN TESTS"):
        for field in ("message", "public_message"):
            shown = feedback.student_message({"passed": False, field: text}, "task")
            assert shown == feedback.WITHHELD.format(task="task"), (field, text)
        assert feedback.student_text(text) != text


def test_passed_checks_say_passed():
    assert feedback.student_message({"passed": True, "message": "x"}, "t") == "passed"


# -- the pages for the demo class ------------------------------------------------------------

@pytest.fixture(scope="module")
def pages(graded):
    root = graded[0]
    assert main(["feedback", "--course-dir", str(root)]) == 0
    return root, root / "feedback"


@pytest.mark.slow
def test_a_page_for_every_graded_submission(pages, graded):
    root, folder = pages
    for assignment, student in graded[1]:
        assert (folder / student / assignment / feedback.FEEDBACK_FILE).exists()


@pytest.mark.slow
def test_feedback_leaks_nothing_on_any_assignment(pages):
    root, folder = pages
    assert leaks.scan(folder, allow_outputs=True) == []
    secrets = leaks.secret_lines()
    for path in sorted(folder.rglob("*.html")):
        text = path.read_text()
        readable = html.unescape(text)
        for marker in FORBIDDEN:
            assert marker not in text and marker not in readable, (path, marker)
        for line in secrets:
            assert line not in readable and html.escape(line) not in text, (path, line)
        for cell in notebooks.load(course.get(path.parent.name).source_dir
                                   / f"{path.parent.name}.ipynb")["cells"]:
            if cells.is_test(cell):         # no test cell's code, visible line included
                assert cells.source(cell).strip() not in readable


@pytest.mark.slow
def test_feedback_shows_scores_causes_and_hand_graded_status(pages, graded):
    root, folder = pages
    outcome = graded[1][("a3_neural_network", "buggy")]
    page = html.unescape((folder / "buggy" / "a3_neural_network" / "feedback.html").read_text())
    # the notebook's split: 28 points + 3 bonus autograded, 7 + 5 bonus graded by hand
    bonus = sum(p for c, (_, p) in outcome.scores.items() if c in ("sgd_momentum", "conv1d"))
    earned_bonus = sum(s for c, (s, _) in outcome.scores.items()
                       if c in ("sgd_momentum", "conv1d"))
    assert (f"Autograded: {outcome.total - earned_bonus:g} / {outcome.max_total - bonus:g} "
            f"points + {earned_bonus:g} / {bonus:g} bonus") in page
    assert "graded by hand: 0 / 7 points + 0 / 5 bonus" in page
    assert "summed over the batch" in page and "Dense.backward" in page
    assert "Graded by hand" in page and "not graded yet" in page and "plot_curves" in page
    assert "python check.py" in page
    missing = html.unescape(
        (folder / "missing_notebook" / "a3_neural_network" / "feedback.html").read_text())
    assert "missing" in missing and "What happened" in missing


@pytest.mark.slow
def test_feedback_uses_the_student_rule_on_every_check(graded, tmp_path):
    """A record whose hidden test quotes the reference: the page says what the rule says."""
    src = graded[0]
    root = tmp_path / "course"
    student_dir = root / "autograded" / "buggy" / "a3_neural_network"
    shutil.copytree(src / "autograded" / "buggy" / "a3_neural_network", student_dir)
    shutil.copy(src / "gradebook.db", root / "gradebook.db")      # a course, not a bare folder
    path = records.record_path(root, "a3_neural_network", "buggy")
    record = json.loads(path.read_text())
    record["checks"]["crossentropy"].update(
        passed=False, points=0.0, message="AssertionError: [FAIL] crossentropy: crossentropy "
        "is 2.31, expected 2.30259", hidden_message="HIDDEN-DETAIL 2.30259")
    record["checks"]["predict"].update(passed=False, points=0.0, message="x",
                                       public_message="predict must return integer labels",
                                       hidden_message="HIDDEN-DETAIL")
    record["events"] = ["timeout: the training cell ran out of time after 180 s"]
    path.write_text(json.dumps(record))
    assert main(["feedback", "a3_neural_network", "--course-dir", str(root),
                 "--student", "buggy"]) == 0
    page = html.unescape((root / "feedback" / "buggy" / "a3_neural_network" / "feedback.html")
                         .read_text())
    assert "HIDDEN-DETAIL" not in page and "2.30259" not in page
    assert feedback.WITHHELD.format(task="crossentropy") in page
    assert "predict must return integer labels" in page
    assert "ran out of time after 180 s" in page
