"""The student self-check: `python check.py` in a released bundle, and report(globals()).

check.py must run with nothing but the bundle (never the grader, the reference or the hidden
tests), execute the right cells, and say per check PASS/FAIL and what to fix.
"""
import io
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from grader import course, leaks, notebooks, release
from grader.nncheck import cells, progress, registry, runcells, selfcheck
from grader.samples import for_assignment

AIDS = [a.id for a in course.available()]

# Runs check.py as a student would, with the grader made unimportable: the bundle must be
# self-sufficient (nncheck/, the notebook, layers.py) and never reach for instructor code.
BLOCKED_RUN = """
import runpy, sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("grader", "source_layers"):
            raise ImportError(f"the self-check imported {name}")
sys.meta_path.insert(0, Blocked())
sys.argv = ["check.py", *sys.argv[1:]]
try:
    runpy.run_path("check.py", run_name="__main__")
finally:
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("grader", "source_layers"))
    assert not leaked, leaked
"""


def run_check(folder, *args):
    return subprocess.run([sys.executable, "-c", BLOCKED_RUN, *args], cwd=folder,
                          capture_output=True, text=True, timeout=600)


def _copy(src, tmp_path, name):
    dest = tmp_path / name
    shutil.copytree(src, dest)
    return dest


def _cell(kind, source, grade_id=None, points=0):
    meta = {"grade": kind in ("test", "manual"), "solution": kind in ("solution", "manual"),
            "locked": kind not in ("solution", "manual")}
    if grade_id:
        meta["grade_id"] = grade_id
    if kind == "test":
        meta["points"] = points
    return {"cell_type": "code", "source": source, "metadata": {"nbgrader": meta},
            "outputs": [], "execution_count": None}


def test_runs_solution_and_given_cells_but_never_test_or_hand_graded_cells():
    nb = {"cells": [
        _cell("given", "%load_ext autoreload\nimport numpy as np\n!echo hi", "setup"),
        _cell("solution", "def double(x):\n    return 2 * x", "double_solution"),
        _cell("test", "raise RuntimeError('a test cell ran')", "double", points=2),
        _cell("manual", "raise RuntimeError('a hand-graded cell ran')", "plot"),
        _cell("given", "value = double(np.arange(3))", "use"),
        _cell("given", "print(undefined_name)", "broken"),
        _cell("given", "after = 1", "after"),
        {"cell_type": "markdown", "source": "raise", "metadata": {}},
    ]}
    ns, errors = runcells.run_cells(nb, name="t.ipynb")
    assert list(ns["value"]) == [0, 2, 4] and ns["after"] == 1
    assert [(e.cell, e.grade_id) for e in errors] == [(6, "broken")]
    assert "NameError" in errors[0].error and "line 1" in errors[0].error
    assert cells.test_points(nb) == {"double": 2.0}


def test_cells_are_read_the_way_ipython_reads_them():
    """Magics and shell lines go through IPython's own input transformers (not a regex): a
    line starting with % or != inside brackets is Python; %%time runs its body, %%bash does not;
    a shell line runs nothing."""
    nb = {"cells": [
        _cell("given", "%load_ext autoreload\n%autoreload 2\n%matplotlib inline\n!echo hi\n"
                       "import numpy as np", "setup"),
        _cell("solution", 'text = ("%d apples"\n        % 3)\nflag = (1\n        != 2)\n'
                          "%time timed = 1\n", "pep8"),
        _cell("solution", "%%time\nbody = 2", "timed_cell"),
        _cell("solution", "%%bash\nexit 1", "bash"),
        _cell("solution", "!rm -rf /nonexistent\nafter_shell = 3", "shell"),
    ]}
    ns, errors = runcells.run_cells(nb, name="t.ipynb")
    assert not errors, errors
    assert ns["text"] == "3 apples" and ns["flag"] is True and ns["timed"] == 1
    assert ns["body"] == 2 and ns["after_shell"] == 3


def test_a_cell_is_named_by_its_first_line_not_a_number():
    nb = {"cells": [_cell("given", "import numpy as np", "setup"),
                    _cell("solution", "# my helper\ndef helper():\n    return 1 / 0", "h"),
                    _cell("solution", "value = helper()", "use")]}
    _, errors = runcells.run_cells(nb, name="t.ipynb")
    (error,) = errors
    assert str(error) == "the cell starting 'value = helper()' raised ZeroDivisionError: " \
                         "division by zero (line 1)"


def _looping_namespace():
    ns = {}
    exec(compile("def sgd_momentum(fun, x0, args=(), lr=0.1, momentum=0.9, maxiter=100,\n"
                 "                 callback=None):\n"
                 "    while True:\n"
                 "        pass\n", "layers.py", "exec"), ns)
    return ns


def test_a_check_that_hangs_is_stopped_and_names_the_function():
    from grader.nncheck import a3
    out = io.StringIO()
    results = selfcheck.report(_looping_namespace(), ["sgd_momentum", "encode"], a3,
                               stream=out, seconds=1.0)
    hung, encode = results
    assert not hung and hung.details.get("stopped")
    assert re.search(r"sgd_momentum did not return within 1 s \(it was stopped at line [34] of "
                     r"layers.py, in sgd_momentum\)", hung.message), hung.message
    assert not encode and "encode is not defined" in encode.message    # the run went on


def test_report_returns_nothing_noisy():
    from grader.nncheck import a1
    results = selfcheck.report({}, ["grad_xtx"], a1, stream=io.StringIO())
    assert repr(results) == "<0 of 1 checks pass>"
    assert results._ipython_display_() is None       # Jupyter shows nothing for it
    assert isinstance(results, list) and not results[0]


def test_a_failing_check_is_printed_once(capsys):
    from grader.nncheck import a1
    with pytest.raises(AssertionError) as raised:
        a1.run("grad_xtx", {"grad_xtx": lambda x: x})
    assert capsys.readouterr().out == ""             # the cell's traceback shows it, once
    assert "factor of 0.5" in str(raised.value)


def test_not_checked_for_a_broken_setup_is_said_once():
    from grader.nncheck import a3
    out = io.StringIO()
    selfcheck.report({"encode": lambda labels: np.eye(10)[labels]}, ["relu", "sigmoid", "encode"],
                     a3, stream=out, not_checked="the setup cell failed, see above")
    text = out.getvalue()
    assert "is not defined" not in text and "run the cell" not in text
    assert "not checked (the setup cell failed, see above): relu, sigmoid" in text
    assert "PASS  encode" in text


def test_the_self_check_reveals_no_solution_line():
    """nncheck/ is public, so leaks.secret_lines() subtracts its lines: a self-check line equal
    to a solution line would both hand out the solution and blind the leak scan to it."""
    secret, public = set(), set()
    for module in course.SOURCE_LAYERS.glob("*.py"):
        s, p = leaks._split(module.read_text())
        secret, public = secret | s, public | p
    for notebook in course.ASSIGNMENTS_DIR.glob("*/*.ipynb"):
        for source in leaks._notebook_sources(notebook):
            s, p = leaks._split(source)
            secret, public = secret | s, public | p
    solution_only = {l for l in secret - public if len(l) >= leaks.MIN_LENGTH
                     and not l.startswith("#")}
    self_check = ("selfcheck.py", "runcells.py", "progress.py", "cells.py", "registry.py")
    shipped = [*(course.NNCHECK / name for name in self_check), *release.TEMPLATES.rglob("*")]
    for path in shipped:
        if path.is_file():
            lines = {l.strip() for l in path.read_text().splitlines()}
            assert not lines & solution_only, (path, sorted(lines & solution_only))


@pytest.mark.slow
@pytest.mark.parametrize("assignment", AIDS)
def test_untouched_release_fails_every_check_and_says_so(graded, tmp_path, assignment):
    root = graded[0]
    bundle = _copy(root / "release" / assignment, tmp_path, assignment)
    result = run_check(bundle)
    assert result.returncode == 1, result.stdout + result.stderr
    checks = cells.test_points(notebooks.load(bundle / f"{assignment}.ipynb"))
    for check_id in checks:
        assert f"FAIL  {check_id} " in result.stdout, check_id
    assert "PASS" not in result.stdout
    assert "0 of " in result.stdout and "NotImplementedError" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("assignment", AIDS)
def test_correct_submission_passes_every_check(graded, tmp_path, assignment):
    root = graded[0]
    folder = _copy(root / "submitted" / "correct" / assignment, tmp_path, assignment)
    assert (folder / "check.py").exists(), "the release ships check.py"
    result = run_check(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = cells.test_points(notebooks.load(folder / f"{assignment}.ipynb"))
    assert f"{len(checks)} of {len(checks)} checks pass: " in result.stdout
    assert _estimate(result.stdout) == sum(checks.values())
    assert "FAIL" not in result.stdout and "!" not in result.stdout.split("Public checks")[0]


@pytest.mark.slow
def test_training_shows_progress_and_saves_the_accuracy_curves(graded, tmp_path):
    from PIL import Image
    root = graded[0]
    folder = _copy(root / "submitted" / "correct" / "a3_neural_network", tmp_path, "a3")
    result = run_check(folder, "training")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "training [" in result.stdout
    done = re.search(r"training done: (\d+) iterations, test accuracy (\d+\.\d)%", result.stdout)
    assert done and 10 < int(done.group(1)) <= 400 and float(done.group(2)) >= 90
    assert re.search(r"PASS  training .*\n\s+test accuracy \d+\.\d% after \d+ iterations",
                     result.stdout)
    png = folder / progress.CURVES_FILE
    image = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert image.shape[0] > 200 and image.std() > 10


@pytest.mark.slow
def test_buggy_submission_gets_the_located_cause(graded, tmp_path):
    root = graded[0]
    folder = _copy(root / "submitted" / "buggy" / "a3_neural_network", tmp_path, "a3")
    result = run_check(folder, "--skip-training")
    assert result.returncode == 1
    out = result.stdout
    for check_id in for_assignment("a3_neural_network").BUGGY_LOSES - {"training"}:
        assert f"FAIL  {check_id} " in out, check_id
    assert "biases[0]" in out and "summed over the batch" in out      # layer, entry, hint
    assert "numerical gradient" in out                                   # analytic vs numeric
    assert "SKIP  training" in out


def _estimate(out):
    """check.py's estimate: its autograded points, bonus included."""
    found = re.search(r"([\d.]+) of [\d.]+ autograded points(?: \+ ([\d.]+) of [\d.]+ bonus)?",
                      out)
    assert found, out[-2000:]
    return float(found.group(1)) + float(found.group(2) or 0)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", AIDS)
@pytest.mark.parametrize("sample", ["correct", "buggy", "syntax_error", "untouched_release"])
def test_check_py_estimate_equals_the_autograde_score(graded, tmp_path, assignment, sample):
    """What check.py tells a student they will get is what `grader autograde` gave, on every
    demo sample (public and hidden checks agree on all of them)."""
    from grader.nbgrader_api import gradebook
    root, outcomes = graded[0], graded[1]
    folder = _copy(root / "submitted" / sample / assignment, tmp_path, assignment)
    result = run_check(folder)
    assert _estimate(result.stdout) == outcomes[(assignment, sample)].total, result.stdout
    with gradebook(root) as gb:             # and what the gradebook holds
        submission = gb.find_submission(assignment, sample)
        assert submission.code_score == pytest.approx(outcomes[(assignment, sample)].total)
        a = course.get(assignment)
        nb = notebooks.load(a.source_dir / a.notebook)
        points = selfcheck.Points.of(nb, registry.checks_module(assignment))
        assert gb.find_assignment(assignment).max_score == pytest.approx(
            sum(points.tests.values()) + sum(points.manual.values()))


@pytest.mark.slow
def test_a_syntax_error_in_layers_py_is_the_one_cause_reported(graded, tmp_path):
    folder = _copy(graded[0] / "submitted" / "syntax_error" / "a3_neural_network", tmp_path, "a3")
    out = run_check(folder).stdout
    assert out.count("SyntaxError") == 1 and "layers.py" in out.split("Public checks")[0]
    assert "the setup cell: fix this first" in out
    assert "not checked (the setup cell failed, see above): relu, " in out
    assert "is not defined" not in out and "run the cell" not in out
    assert "could not run without what the setup cell imports" in out
    assert "PASS  encode" in out and "PASS  callback" in out


@pytest.mark.slow
def test_check_py_selects_and_lists_checks(graded, tmp_path):
    folder = _copy(graded[0] / "release" / "a1_matrix_calculus", tmp_path, "a1")
    listed = run_check(folder, "--list")
    assert listed.returncode == 0 and "grad_xtx" in listed.stdout
    one = run_check(folder, "grad_xtx")
    assert "FAIL  grad_xtx" in one.stdout
    assert "0 of 1 checks pass" in one.stdout
    assert run_check(folder, "no_such_check").returncode == 2
    (folder / "a1_matrix_calculus.ipynb").unlink()
    assert run_check(folder).returncode == 2


@pytest.mark.parametrize("assignment", AIDS)
def test_report_from_inside_the_notebook(assignment):
    """`report(globals())` finds the registry the setup cell imported as `check`."""
    a = course.get(assignment)
    ns, errors = release.namespace(a, a.source_dir / a.notebook,
                                   {f: release.reference_module(a, f) for f in a.modules})
    assert not errors
    out = io.StringIO()
    results = selfcheck.report(ns, training=False, stream=out, out_dir="/nonexistent")
    assert results and all(results), out.getvalue()
    assert "FAIL" not in out.getvalue()


@pytest.mark.slow
def test_report_in_a_jupyter_kernel(graded, tmp_path):
    """The call students add at the end of the notebook, run by a real kernel."""
    import nbformat
    from nbclient import NotebookClient
    folder = _copy(graded[0] / "submitted" / "buggy" / "a2_backprop", tmp_path, "a2")
    nb = nbformat.read(folder / "a2_backprop.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if not cells.is_test(c)]
    nb.cells.append(nbformat.v4.new_code_cell(
        "from nncheck.selfcheck import report\nresults = report(globals())"))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    for check_id in for_assignment("a2_backprop").BUGGY_LOSES:
        assert f"FAIL  {check_id}" in out, check_id
    assert "PASS  add_gate" in out and "checks pass" in out


# -- one points story ------------------------------------------------------------------------

def _stated_points(nb):
    """(points, bonus) the notebook's introduction states: '(35 points). Bonus: ... 2, ... 4,
    ... 2.'; (None, 0) if it states none."""
    intro = " ".join(cells.source(nb["cells"][0]).split())
    stated = re.search(r"\((\d+) points\)", intro)
    bonus = re.search(r"Bonus: ([^.]*)\.", intro)
    return (float(stated.group(1)) if stated else None,
            sum(float(n) for n in re.findall(r"(\d+)(?=,|$)", bonus.group(1))) if bonus else 0.0)


@pytest.mark.parametrize("assignment", AIDS)
def test_notebook_check_py_and_report_tell_one_points_story(assignment):
    """The notebook's stated points, check.py's summary and the in-notebook report agree on
    autograded, hand-graded and bonus points (the registry's BONUS ids)."""
    a = course.get(assignment)
    nb = notebooks.load(a.source_dir / a.notebook)
    module = registry.checks_module(a.id, nb)
    points = selfcheck.Points.of(nb, module)
    bonus_ids = set(getattr(module, "BONUS", ()))
    assert bonus_ids <= set(points.tests) | set(points.manual)
    regular = sum(points.split(points.tests, points.tests)[:1]) + \
        points.split(points.manual, points.manual)[0]
    extra = points.split(points.tests, points.tests)[1] + points.split(points.manual,
                                                                      points.manual)[1]
    stated, stated_bonus = _stated_points(nb)
    if stated is not None:
        assert (stated, stated_bonus) == (regular, extra)
    ns, _ = release.namespace(a, a.source_dir / a.notebook,
                              {f: release.reference_module(a, f) for f in a.modules})
    out = io.StringIO()
    results = selfcheck.report(ns, [c for c in module.CHECKS if c != "training"], module,
                               points, stream=out, out_dir="/nonexistent")
    text = out.getvalue()
    auto, auto_bonus = points.split([r.name for r in results], points.tests)
    assert f"{auto:g} of {auto:g} autograded points" in text
    if auto_bonus:
        assert f"+ {auto_bonus:g} of {auto_bonus:g} bonus" in text
    assert f"The assignment: {regular:g} points" + (f" + {extra:g} bonus" if extra else "") \
        in text
    cwd = os.getcwd()                   # report(globals()) in the notebook's folder finds them
    try:
        os.chdir(a.source_dir)
        found = selfcheck._notebook_points(module)
    finally:
        os.chdir(cwd)
    assert found == points


def test_the_a3_notebook_states_35_points_and_8_bonus_as_the_tools_count_them():
    a = course.get("a3_neural_network")
    nb = notebooks.load(a.source_dir / a.notebook)
    assert _stated_points(nb) == (35.0, 8.0)
    from grader.nncheck import a3
    points = selfcheck.Points.of(nb, a3)
    intro = " ".join(cells.source(nb["cells"][0]).split())
    auto, hand = points.split(points.tests, points.tests), points.split(points.manual,
                                                                        points.manual)
    assert (f"The test cells are worth {auto[0]:g} points plus {auto[1]:g} bonus points, the "
            f"cells graded by hand {hand[0]:g} plus {hand[1]:g}") in intro
