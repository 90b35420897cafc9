"""The clean room on every kind of machine: as root, as an ordinary user (user namespaces), and
where the system allows no namespaces -- a clear refusal, or weaker isolation only when asked,
recorded for every submission graded that way. `.ci/run` runs the whole suite both as root and
as an ordinary user."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.records import RESULTS_FILE

ROOT = Path(__file__).resolve().parent.parent
NO_NAMESPACES = [sys.executable, str(ROOT / "tests" / "helpers" / "no_namespaces.py")]


def _grader(*args, wrapper=()):
    return subprocess.run([*wrapper, sys.executable, "-m", "grader", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)


def _user_namespaces_allowed():
    return subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode == 0


def _files(folder):
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in Path(folder).rglob("*")}


def test_doctor_names_the_isolation_this_machine_gives():
    done = _grader("doctor")
    expected = "root" if os.geteuid() == 0 else \
        "userns" if _user_namespaces_allowed() else "weak"
    assert f"isolation: {expected}\n" in done.stdout, done.stdout + done.stderr
    assert done.returncode == (1 if expected == "weak" else 0)
    if expected != "weak":
        assert "PID namespace" in done.stdout and "no network" in done.stdout


def test_where_namespaces_are_forbidden_doctor_says_what_to_change():
    done = _grader("doctor", wrapper=NO_NAMESPACES)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "isolation: weak" in done.stdout
    assert "user.max_user_namespaces" in done.stdout        # what failed, and what to change
    assert "--allow-weak-isolation" in done.stdout


def test_where_namespaces_are_forbidden_autograde_refuses_and_writes_nothing(graded, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(graded[0], course)
    before = _files(course)
    done = _grader("autograde", "a1_matrix_calculus", "--force", "--course-dir", str(course),
                   wrapper=NO_NAMESPACES)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("grader autograde: refused: "), done.stderr
    assert "max_user_namespaces" in lines[0] and "--allow-weak-isolation" in lines[0]
    assert _files(course) == before


def test_weak_isolation_grades_the_same_only_when_asked_and_every_record_says_so(graded,
                                                                                tmp_path):
    root, outcomes = graded[0], graded[1]
    course = tmp_path / "course"
    shutil.copytree(root, course)
    done = _grader("autograde", "a1_matrix_calculus", "--student", "correct", "--student",
                   "buggy", "--force", "--course-dir", str(course), "--allow-weak-isolation",
                   wrapper=NO_NAMESPACES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "weak isolation" in done.stdout
    for student in ("correct", "buggy"):
        record = json.loads((course / "autograded" / student / "a1_matrix_calculus"
                             / RESULTS_FILE).read_text())
        assert record["isolation"] == "weak"
        strong = outcomes[("a1_matrix_calculus", student)]
        assert record["total"] == strong.total
        assert strong.isolation == ("root" if os.geteuid() == 0 else "userns")


@pytest.mark.skipif(os.geteuid() != 0, reason="a uid of its own per worker needs root")
def test_weak_isolation_as_root_refuses_secrets_a_workers_uid_could_read(tmp_path):
    """Without namespaces only file permissions keep a worker (its own uid) from the reference:
    a hidden folder it could read stops the worker from starting, with what to do."""
    import tempfile

    from grader.sandbox.session import ForkServer, IsolationError, Session
    secret = Path(tempfile.mkdtemp(prefix="hidden-", dir="/tmp"))   # /tmp: others may enter
    secret.chmod(0o755)
    (tmp_path / "sub").mkdir()
    fork_server = ForkServer(preload=False)
    fork_server.mode = "weak"
    try:
        with pytest.raises(IsolationError, match="can read .*hidden.*chmod -R go-rwx"):
            Session(fork_server, tmp_path / "sub", hide=[str(secret)])
    finally:
        fork_server.close()
        secret.rmdir()
