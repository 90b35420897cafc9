"""docs/authoring.md works as written: a 4th assignment built from the page's own blocks is
released, autograded, given feedback, reported, exported and demonstrated -- then removed."""
import csv
import io
import re
import shutil
import subprocess
import sys

import pytest

from grader import course
from grader.cli import main

ROOT = course.ROOT
DOC = ROOT / "docs" / "authoring.md"
BLOCK = re.compile(r"^```(\w+) (\S+)\n(.*?)^```$", re.S | re.M)

pytestmark = pytest.mark.slow


def recipe():
    """{path or label: code} of every block of the page marked with a path."""
    return {target: code for _, target, code in BLOCK.findall(DOC.read_text())}


def test_the_recipe_names_every_piece():
    blocks = recipe()
    for needed in ("make_a4_notebook.py", "registration", "grader/nncheck/a4.py",
                   "grader/hidden/a4.py", "grader/samples/a4.py", "solutions/a4_softplus.md",
                   "tests/test_checks_a4.py"):
        assert needed in blocks, needed
    text = DOC.read_text()
    assert "grader/course.py" in text and "evaluate(check_id, namespace)" in text
    for cited in re.findall(r"`(tests/test_\w+\.py)`", text):
        assert (ROOT / cited).exists() or cited in ("tests/test_checks_a4.py",
                                                    "tests/test_checks_aN.py"), cited


@pytest.fixture
def a4(monkeypatch):
    blocks = recipe()
    files = {ROOT / path: code for path, code in blocks.items()
             if "/" in path and path != "make_a4_notebook.py"}
    folder = ROOT / "assignments" / "a4_softplus"
    made = [*files, folder]
    assert not any(p.exists() for p in made), "a4_softplus exists already: not the recipe's"
    try:
        made_notebook = subprocess.run([sys.executable, "-c", blocks["make_a4_notebook.py"]],
                                       cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert made_notebook.returncode == 0, made_notebook.stderr
        for path, code in files.items():
            path.write_text(code)
        assignment = eval(blocks["registration"], {"Assignment": course.Assignment})
        monkeypatch.setitem(course.ASSIGNMENTS, assignment.id, assignment)
        yield assignment
    finally:
        for path in made:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        for name in ("grader.nncheck.a4", "grader.hidden.a4", "grader.samples.a4"):
            sys.modules.pop(name, None)
        for cache in ROOT.glob("**/__pycache__/*a4*.pyc"):
            cache.unlink()


def test_a_fourth_assignment_from_the_recipe(a4, tmp_path, capsys):
    root = tmp_path / "course"
    assert main(["release", a4.id, "--course-dir", str(root)]) == 0     # proven right
    assert (root / "release" / a4.id / a4.notebook).is_file()

    demo_root = tmp_path / "demo"
    assert main(["demo", "--course-dir", str(demo_root)]) == 0           # every sample as expected
    out = capsys.readouterr().out
    assert f"== {a4.id} ==" in out and "all as expected" in out

    assert main(["autograde", a4.id, "--course-dir", str(demo_root), "--force",
                 "--student", "correct", "--student", "buggy"]) == 0
    assert main(["feedback", a4.id, "--course-dir", str(demo_root)]) == 0
    assert (demo_root / "feedback" / "buggy" / a4.id / "feedback.html").is_file()
    assert main(["report", a4.id, "--course-dir", str(demo_root)]) == 0
    assert (demo_root / "reports" / f"{a4.id}.html").is_file()
    capsys.readouterr()
    assert main(["export", "--format", "csv", a4.id, "--course-dir", str(demo_root)]) == 0
    rows = {r["student_id"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert float(rows["correct"]["autograded"]) == 2 == float(rows["correct"]["autograded_max"])
    assert float(rows["buggy"]["autograded"]) == 0 and float(rows["buggy"]["max_total"]) == 3

    mutants = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "tests/test_checks_a4.py"], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert mutants.returncode == 0, mutants.stdout[-2000:]
