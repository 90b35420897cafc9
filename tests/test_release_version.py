"""`grader release --version X`: proven bundles, zipped, with checksums -- or nothing at all.

Each refusal is shown: a reference that loses a point, a stub that earns one, a leak."""
import hashlib
import json
import stat
import zipfile

import pytest
import yaml

from grader import course, leaks, notebooks, release, stubs
from grader.cli import main
from grader.samples import a3 as a3_sample

AIDS = [a.id for a in course.available()]
ROOT = course.ROOT
VERSION = "1.2.3"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    base = tmp_path_factory.mktemp("publish")
    out = base / "dist"
    assert main(["release", "--version", VERSION, "--course-dir", str(base / "course"),
                 "--out", str(out)]) == 0
    return base, out


def _names(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: info for info in archive.infolist()}


def test_one_zip_per_assignment_an_instructor_bundle_and_checksums(published):
    _, out = published
    expected = {f"{a}-{VERSION}.zip" for a in AIDS} | {f"instructor-{VERSION}.zip", "SHA256SUMS"}
    assert {p.name for p in out.iterdir()} == expected
    sums = dict(reversed(line.split("  ")) for line in (out / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == expected - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("assignment", AIDS)
def test_student_zip_holds_exactly_the_bundle(published, tmp_path, assignment):
    _, out = published
    zipped = out / f"{assignment}-{VERSION}.zip"
    names = _names(zipped)
    top = {n.split("/")[1] for n in names}
    wanted = {f"{assignment}.ipynb", "check.py", "README.md", "requirements.txt", "nncheck",
              *course.get(assignment).modules}
    assert top == wanted
    assert all(n.startswith(f"{assignment}/") for n in names)
    assert f"{assignment}/nncheck/selfcheck.py" in names
    assert stat.S_IMODE(names[f"{assignment}/check.py"].external_attr >> 16) == 0o755
    with zipfile.ZipFile(zipped) as archive:
        archive.extractall(tmp_path)
    bundle = tmp_path / assignment
    assert leaks.scan(bundle) == []
    assert f'ASSIGNMENT = "{assignment}"' in (bundle / "check.py").read_text()
    readme = (bundle / "README.md").read_text()
    assert "python check.py" in readme and "$" not in readme and VERSION in readme
    nb = notebooks.load(bundle / f"{assignment}.ipynb")
    assert not any(c.get("outputs") for c in nb["cells"])


def test_instructor_bundle_is_a_gradescope_autograder(published):
    _, out = published
    names = _names(out / f"instructor-{VERSION}.zip")
    for script in ("run_autograder", "setup.sh"):
        assert stat.S_IMODE(names[script].external_attr >> 16) == 0o755
    for a in AIDS:
        assert f"assignments/{a}/{a}.ipynb" in names and f"solutions/{a}.md" in names
    for needed in ("source_layers/layers.py", "grader/__init__.py", "grader/hidden/a3.py",
                   "grader/release.py", "pyproject.toml", "nbgrader_config.py"):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_zips_are_reproducible(tmp_path):
    folder = tmp_path / "b"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.py").write_text("b")
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    release._zip(first, release._tree(folder, "b/"))
    (folder / "a.txt").touch()
    release._zip(second, release._tree(folder, "b/"))
    assert first.read_bytes() == second.read_bytes()


def _refused(tmp_path, capsys, *assignments):
    out = tmp_path / "dist"
    code = main(["release", "--version", "9.9", "--course-dir", str(tmp_path / "course"),
                 "--out", str(out), *assignments])
    assert code == 1
    assert not out.exists(), "a refused release writes nothing"
    for a in assignments:
        assert not (tmp_path / "course" / "release" / a).exists()
    return capsys.readouterr().err


def test_refuses_a_reference_that_loses_a_point(tmp_path, capsys, monkeypatch):
    def broken(assignment, filename):
        source = (course.SOURCE_LAYERS / assignment.modules[filename]).read_text()
        return stubs.fill(source, {"Dense.backward": a3_sample.SEED_000_BUGS["Dense.backward"]})
    monkeypatch.setattr(release, "reference_module", broken)
    error = _refused(tmp_path, capsys, "a3_neural_network")
    assert "the reference does not get full marks" in error and "dense_grad_params" in error


def test_refuses_stubs_that_earn_a_point(tmp_path, capsys, monkeypatch):
    def too_helpful(assignment, filename):
        source = (course.SOURCE_LAYERS / assignment.modules[filename]).read_text()
        return stubs.fill(source, {"ReLU.forward": None, "ReLU.backward": None},
                          default=stubs.STUB_BODY)
    monkeypatch.setattr(release, "student_module", too_helpful)
    error = _refused(tmp_path, capsys, "a3_neural_network")
    assert "the stubs earn points: they pass relu" in error


def test_refuses_a_leak(tmp_path, capsys, monkeypatch):
    secret = sorted(leaks.secret_lines())[0]
    real = release.student_readme
    monkeypatch.setattr(release, "student_readme",
                        lambda *args, **kwargs: real(*args, **kwargs) + f"\n    {secret}\n")
    error = _refused(tmp_path, capsys, "a1_matrix_calculus")
    assert "leaks" in error and "README.md" in error


def test_refuses_a_bad_version(tmp_path):
    assert main(["release", "--version", "../x", "--course-dir", str(tmp_path / "c")]) == 1


def test_ci_builds_the_release_and_renders_the_report():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "apt-get install" in ci and "chromium" in ci
    assert "release --version" in ci
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))        # YAML 1.1 reads `on` as True
    assert triggers["push"]["tags"] == ["v*"]
    steps = json.dumps(workflow["jobs"])
    assert "grader release --version" in steps and "SHA256SUMS" in steps
