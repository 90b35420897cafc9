"""The student self-check: `python check.py` in a released bundle, and report(globals()).

check.py must run with nothing but the bundle (never the grader, the reference or the hidden
tests), execute the right cells, and say per check PASS/FAIL and what to fix.
"""
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from grader import course, leaks, notebooks, release
from grader.nncheck import selfcheck
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
    ns, errors = selfcheck.run_cells(nb, name="t.ipynb")
    assert list(ns["value"]) == [0, 2, 4] and ns["after"] == 1
    assert [(e.cell, e.grade_id) for e in errors] == [(6, "broken")]
    assert "NameError" in errors[0].error and "line 1" in errors[0].error
    assert selfcheck.test_points(nb) == {"double": 2.0}


def test_ipython_syntax_is_dropped_and_other_languages_skipped():
    assert selfcheck.python_source("%matplotlib inline\nx = 1\n  !ls") == "\nx = 1\n"
    assert selfcheck.python_source("%%time\nx = 1") == "x = 1"
    assert selfcheck.python_source("%%bash\nls") is None


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
    shipped = [course.NNCHECK / "selfcheck.py", *release.TEMPLATES.rglob("*")]
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
    checks = notebooks.test_points(notebooks.load(bundle / f"{assignment}.ipynb"))
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
    checks = notebooks.test_points(notebooks.load(folder / f"{assignment}.ipynb"))
    total = sum(checks.values())
    assert f"{len(checks)} of {len(checks)} checks pass ({total:g} of {total:g} points" \
        in result.stdout
    assert "FAIL" not in result.stdout and "!" not in result.stdout.split("Public checks")[0]


@pytest.mark.slow
def test_training_shows_progress_and_saves_the_accuracy_curves(graded, tmp_path):
    from PIL import Image
    root = graded[0]
    folder = _copy(root / "submitted" / "correct" / "a3_neural_network", tmp_path, "a3")
    result = run_check(folder, "training")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "training [" in result.stdout and "done (" in result.stdout
    png = folder / selfcheck.CURVES_FILE
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
    nb.cells = [c for c in nb.cells if not notebooks.is_test(c)]
    nb.cells.append(nbformat.v4.new_code_cell(
        "from nncheck.selfcheck import report\nresults = report(globals())"))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    for check_id in for_assignment("a2_backprop").BUGGY_LOSES:
        assert f"FAIL  {check_id}" in out, check_id
    assert "PASS  add_gate" in out and "checks pass" in out
