"""The leak scanner finds each kind of secret, so a clean scan of a release means something."""
import json
import shutil

import pytest

from grader import leaks, release, stubs
from grader.course import ASSIGNMENTS

from .conftest import LAYERS_SOURCE


@pytest.fixture
def bundle(tmp_path):
    """A minimal student bundle: the stub module, the public checks, an empty notebook."""
    assignment = ASSIGNMENTS["a3_neural_network"]
    (tmp_path / "layers.py").write_text(release.student_module(assignment, "layers.py"))
    release.copy_public_checks(tmp_path)
    nb = {"cells": [{"cell_type": "code", "source": "check.run('relu', globals())",
                     "metadata": {}, "outputs": [], "execution_count": None}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "a3.ipynb").write_text(json.dumps(nb))
    return tmp_path


def test_clean_bundle_has_no_findings(bundle):
    assert leaks.scan(bundle) == []


def test_public_checks_contain_no_solution_line():
    secrets = leaks.secret_lines()
    for path in sorted(leaks.course.NNCHECK.rglob("*.py")):
        assert not {l.strip() for l in path.read_text().splitlines()} & secrets, path


def test_finds_a_solution_line_in_a_module(bundle):
    line = sorted(stubs.secret_lines(LAYERS_SOURCE))[0]
    with open(bundle / "layers.py", "a") as f:
        f.write(f"\n    {line}\n")
    assert any("solution or hidden-test line" in f.reason for f in leaks.scan(bundle))


@pytest.mark.parametrize("text", ["### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS",
                                  "from grader.hidden import a3 as hidden",
                                  "from source_layers import layers"])
def test_finds_markers_and_secret_imports_in_notebook_cells(bundle, text):
    path = bundle / "a3.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][0]["source"] = text
    path.write_text(json.dumps(nb))
    findings = leaks.scan(bundle)
    assert findings and findings[0].path == "a3.ipynb[cell 0]"


def test_finds_outputs_in_a_released_notebook(bundle):
    path = bundle / "a3.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "0.953"}]
    path.write_text(json.dumps(nb))
    assert any("outputs" in f.reason for f in leaks.scan(bundle))


def test_finds_the_reference_module_copied_in(bundle):
    shutil.copy(leaks.course.SOURCE_LAYERS / "layers.py", bundle / "reference.py")
    assert len(leaks.scan(bundle)) > 50
