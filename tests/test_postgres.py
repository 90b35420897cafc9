"""The gradebook on a PostgreSQL server, through nbgrader's own `c.CourseDirectory.db_url`.

A real server: `.ci/postgres start` (Debian's `postgresql` package: initdb + pg_ctl, a
throwaway cluster in a folder of this session, stopped at its end whatever happens). The demo
class is released and graded into a database of its own on it; the grades must be the ones the
SQLite gradebook gets (conftest's `graded`), as `grader export` reads them and as nbgrader's
formgrader, a real `jupyter server` reading the same database, serves them.

.ci/run starts one server for both of its runs (root and an ordinary user) and passes its URL
as GRADER_TEST_POSTGRES. Without a server installed the tests skip, except where
REQUIRE_POSTGRES=1 (.ci/run sets it): there a missing server is a failure, not a silent skip.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from grader import autograde as grading, course, demo, export, release
from grader.nbgrader_api import db_url

pytestmark = pytest.mark.slow

ROOT = course.ROOT
SERVER = ROOT / ".ci" / "postgres"
DEADLINE = 300          # s: only a hung server reaches it


def _installed() -> bool:
    return any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")) or bool(shutil.which("pg_ctl"))


@pytest.fixture(scope="session")
def server():
    """The SQLAlchemy URL of a PostgreSQL server's `postgres` database: the one .ci/run
    started (GRADER_TEST_POSTGRES), else one of this session's own."""
    if os.environ.get("GRADER_TEST_POSTGRES"):
        yield os.environ["GRADER_TEST_POSTGRES"]
        return
    if not _installed():
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("REQUIRE_POSTGRES=1 but no PostgreSQL server is installed (pg_ctl): "
                        "apt-get install postgresql")
        pytest.skip("no PostgreSQL server installed (pg_ctl); CI sets REQUIRE_POSTGRES=1")
    # not under pytest's tmp folder: as root the server runs as `postgres`, which must reach it
    folder = Path(tempfile.mkdtemp(prefix="grader-postgres-"))
    folder.chmod(0o755)
    try:
        started = subprocess.run([str(SERVER), "start", str(folder / "server")],
                                 capture_output=True, text=True, timeout=DEADLINE)
        assert started.returncode == 0, started.stdout + started.stderr
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(SERVER), "stop", str(folder / "server")], timeout=DEADLINE)
        shutil.rmtree(folder, ignore_errors=True)


def _database(server_url: str) -> str:
    """A new, empty database on the server: its URL."""
    import sqlalchemy
    name = f"gradebook_{secrets.token_hex(4)}"
    engine = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def on_postgres(server, tmp_path_factory):
    """The demo class graded with its gradebook on the server: (course root, its URL,
    {(assignment, student): Outcome})."""
    url = _database(server)
    root = tmp_path_factory.mktemp("pg") / "course"
    root.mkdir()
    # the course's own nbgrader_config.py, as an instructor would write it; formgrader reads it
    (root / "nbgrader_config.py").write_text(f"c.CourseDirectory.db_url = {url!r}\n")
    assert db_url(root) == url
    for bundle in release.release(root, log=lambda *args: None):
        assignment = course.get(bundle.name)
        for kind in demo.SAMPLES:
            demo.build_sample(kind, assignment, bundle, root / "submitted" / kind / assignment.id)
    assert not (root / "gradebook.db").exists()
    outcomes = grading.autograde(root, progress=False, log=lambda *args: None)
    return root, url, {(o.assignment, o.student): o for o in outcomes}


def _grades(root) -> list[dict]:
    """Every grade as `grader export` reads it from the gradebook."""
    return [dataclasses.asdict(grade) for grade in export.grades(root)]


def test_the_demo_class_grades_on_postgres_as_on_sqlite(graded, on_postgres):
    root, url, outcomes = on_postgres
    sqlite = graded[1]
    assert outcomes.keys() == sqlite.keys()
    for key, outcome in outcomes.items():
        assert (outcome.scores, outcome.status) == (sqlite[key].scores, sqlite[key].status), key
    assert not (root / "gradebook.db").exists()         # every row went to the server
    assert _grades(root) == _grades(graded[0])          # as nbgrader's export computes them


def test_a_rerun_on_postgres_skips_what_is_graded_and_duplicates_nothing(on_postgres):
    root, url, outcomes = on_postgres
    again = grading.autograde(root, progress=False, log=lambda *args: None)
    assert not any(o.graded_now for o in again)
    from nbgrader.api import Gradebook, SubmittedAssignment
    with Gradebook(url) as gb:
        rows = [(s.assignment.name, s.student.id) for s in gb.db.query(SubmittedAssignment)]
    assert sorted(rows) == sorted(outcomes)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_formgrader_serves_the_grades_from_postgres(on_postgres, tmp_path):
    """nbgrader's formgrader in a real `jupyter server`, started in the course folder (whose
    nbgrader_config.py names the database), serves every submission's score."""
    root, url, outcomes = on_postgres
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp_path / "server.log", "wb")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "HOME": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root",
         "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        served = {}
        for assignment in course.available():
            data = _get(f"http://127.0.0.1:{port}/formgrader/api/submissions/{assignment.id}",
                        token, server, tmp_path / "server.log")
            for row in data:
                served[(assignment.id, row["student"])] = row["score"]
    finally:
        server.terminate()
        server.wait(timeout=DEADLINE)
    expected = {key: o.total for key, o in outcomes.items()}
    assert served.keys() == expected.keys()
    for key, total in expected.items():
        assert served[key] == pytest.approx(total), key


def _get(address, token, server, log):
    """JSON from the server once it answers (it may still be starting)."""
    deadline = time.monotonic() + DEADLINE
    request = urllib.request.Request(address, headers={"Authorization": f"token {token}"})
    while True:
        assert server.poll() is None, Path(log).read_text()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except OSError:
            assert time.monotonic() < deadline, Path(log).read_text()
            time.sleep(0.2)
