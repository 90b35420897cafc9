"""Gradescope, end to end, as Gradescope runs it: the instructor bundle unzipped into
<autograder>/source, its setup.sh run from there with an empty environment, run_autograder
copied to <autograder>/run_autograder and run from <autograder> with `env -i` (no variable of
ours), the upload in <autograder>/submission, the grade read from
<autograder>/results/results.json. Only the folder's place differs from /autograder: the
scripts find every path from where they are."""
import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import jsonschema
import pytest

from grader import course, demo, gradescope, release
from tests.test_export import GRADESCOPE_SCHEMA

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
A3 = course.get("a3_neural_network")
A1 = course.get("a1_matrix_calculus")

pytestmark = pytest.mark.slow


def _unzip(archive: Path, dest: Path):
    """As Gradescope unpacks the bundle: files with their modes (run_autograder executable)."""
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            path = dest / info.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(z.read(info))
            path.chmod(stat.S_IMODE(info.external_attr >> 16) or 0o644)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The autograder image: the bundle `grader release --version` zips, set up by setup.sh."""
    base = tmp_path_factory.mktemp("gradescope") / "autograder"
    bundle = base.parent / "instructor.zip"
    release._zip(bundle, release.instructor_files())
    _unzip(bundle, base / "source")
    setup = subprocess.run(["env", "-i", f"PATH={PATH}", "bash", "./setup.sh"],
                           cwd=base / "source", capture_output=True, text=True, timeout=1800)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    shutil.copy2(base / "source" / "run_autograder", base / "run_autograder")
    for assignment in course.available():
        assert (base / "course" / "release" / assignment.id / assignment.notebook).is_file()
    return base


def run_autograder(image: Path, files: dict) -> tuple[dict, subprocess.CompletedProcess]:
    """One Gradescope run on an upload ({name: bytes}); returns (results.json, the process)."""
    for folder in ("submission", "results"):
        shutil.rmtree(image / folder, ignore_errors=True)
        (image / folder).mkdir()
    for name, data in files.items():
        path = image / "submission" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    run = subprocess.run(["env", "-i", f"PATH={PATH}", str(image / "run_autograder")],
                         cwd=image, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((image / "results" / "results.json").read_text())
    jsonschema.validate(results, GRADESCOPE_SCHEMA)
    return results, run


def sample(image, kind, assignment, tmp_path) -> Path:
    folder = tmp_path / kind / assignment.id
    demo.build_sample(kind, assignment, image / "course" / "release" / assignment.id, folder)
    return folder


def _tests(results):
    return {t["name"].split()[0]: t for t in results["tests"]}


def test_a_correct_upload_with_a_renamed_notebook_gets_full_marks(image, tmp_path):
    """What a student's browser uploads: the notebook, renamed by a second download, and
    layers.py -- not nncheck/ nor check.py (the setup cell imports nncheck)."""
    folder = sample(image, "correct", A3, tmp_path)
    results, run = run_autograder(image, {
        "a3_neural_network (1).ipynb": (folder / A3.notebook).read_bytes(),
        "layers.py": (folder / "layers.py").read_bytes()})
    assert results["score"] == 31 == demo.expected_score("correct", A3)
    submission = _tests(results)["Submission"]
    assert submission["status"] == "passed", submission["output"]
    assert submission["output"] == "Your notebook ran and every check was tested."
    assert "ModuleNotFoundError" not in json.dumps(results)
    assert all(t["status"] == "passed" for t in results["tests"])


def test_a_buggy_upload_gets_its_points_and_its_messages(image, tmp_path):
    folder = sample(image, "buggy", A3, tmp_path)
    results, _ = run_autograder(image, {
        A3.notebook: (folder / A3.notebook).read_bytes(),
        "layers.py": (folder / "layers.py").read_bytes(),
        "accuracy_curves.png": b"\x89PNG not really",        # extra files are harmless
        "notes/todo.txt": b"ask about dropout"})
    assert results["score"] == demo.expected_score("buggy", A3)
    tests = _tests(results)
    assert tests["Submission"]["status"] == "passed"
    failed = {name for name, t in tests.items() if t["status"] == "failed"}
    from grader.samples import a3
    assert failed == a3.BUGGY_LOSES
    assert "summed over the batch" in tests["dense_grad_params"]["output"]
    assert "Dropout" in tests["dropout_train"]["output"]
    assert all(t["visibility"] in ("visible", "after_due_date") for t in results["tests"])


def test_a_zip_upload_is_unpacked_and_graded(image, tmp_path):
    folder = sample(image, "correct", A1, tmp_path)
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(folder / A1.notebook, f"{A1.id}/{A1.notebook}")
        z.write(folder / "check.py", f"{A1.id}/check.py")
    results, _ = run_autograder(image, {"upload.zip": archive.read_bytes()})
    assert results["score"] == 20 == demo.expected_score("correct", A1)
    assert _tests(results)["Submission"]["status"] == "passed"


def test_an_upload_without_a_notebook_is_told_what_to_upload(image):
    results, _ = run_autograder(image, {"notes.txt": b"oops"})
    assert results["score"] == 0 and "No assignment notebook" in results["output"]
    assert "a3_neural_network.ipynb" in results["output"]


# -- the pieces ------------------------------------------------------------------------------

def test_paths_come_from_where_run_autograder_is(tmp_path):
    (tmp_path / "source" / "grader").mkdir(parents=True)
    assert gradescope.paths(tmp_path / "run_autograder") == (tmp_path, tmp_path / "source")
    assert gradescope.paths(tmp_path / "source" / "run_autograder") == \
        (tmp_path, tmp_path / "source")


def test_limits_fit_gradescope_defaults_and_follow_the_conf(tmp_path):
    seconds, memory = gradescope.limits(gradescope.settings(tmp_path))
    assert seconds + gradescope.RESERVE_SECONDS <= 600 and memory + gradescope.GRADER_MB <= 768
    (tmp_path / "gradescope.conf").write_text("TIMEOUT_MINUTES=20\nMEMORY_MB=2048  # raised\n")
    assert gradescope.limits(gradescope.settings(tmp_path)) == (1080.0, 2048 - 256)
    shipped = gradescope.settings(course.ROOT / "grader" / "templates" / "gradescope")
    assert shipped == gradescope.DEFAULTS
    assert "gradescope.conf" in {name for name, _ in release.instructor_files()}


def test_a_zip_cannot_write_outside_the_upload(tmp_path):
    upload = tmp_path / "submission"
    upload.mkdir()
    with zipfile.ZipFile(upload / "evil.zip", "w") as z:
        z.writestr("../escaped.txt", "x")
        z.writestr("/abs.txt", "x")
        link = zipfile.ZipInfo("link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
        z.writestr("ok/a3_neural_network.ipynb", "{}")
    assert gradescope.unpack_zips(upload) == []
    assert not (tmp_path / "escaped.txt").exists() and not Path("/abs.txt").exists()
    assert not (upload / "evil" / "link").exists()
    assert (upload / "evil" / "ok" / "a3_neural_network.ipynb").is_file()
    assert os.listdir(upload / "evil") == ["ok"]
