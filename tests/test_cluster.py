"""`grader autograde --scheduler`: the same grades on a Dask cluster as with the local pool.

Two clusters: a LocalCluster of two worker processes (one thread each), and a `dask scheduler`
with two `dask worker` processes started here over TCP on 127.0.0.1. On each, the demo class
and a subset of the hostile corpus (HOSTILE: crashes, a time limit, a fork bomb, reading the
reference or a classmate, writing outside, links, bytecode, corrupt JSON, beside honest
classmates) get the records the local pool gives them, timings aside. On the TCP cluster one
worker is SIGKILLed while it grades, once: nothing is lost or stored twice. A submission whose
grading kills its worker every time is recorded as an error after Dask's allowed-failures. A
worker that cannot confine refuses the run: exit 2, one line. A client SIGKILLed mid-run
resumes as locally: the rest graded, nothing rewritten or duplicated.

Faults are injected by WorkerPlugins that act when a worker reaches a given state (a task
executing, its submission materialised), never after a delay: nothing here depends on speed.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from distributed import Client, LocalCluster                               # noqa: E402
from distributed.diagnostics.plugin import WorkerPlugin                     # noqa: E402

from grader import autograde as grading, course, demo, release              # noqa: E402
from grader.cluster import PLUGIN                                           # noqa: E402
from grader.nbgrader_api import gradebook                                   # noqa: E402
from grader.records import RESULTS_FILE, record_path                        # noqa: E402
from tests.hostile.cases import BY_NAME, budget_for_tests, build_case       # noqa: E402
from tests.hostile.leftovers import clean                                   # noqa: E402

pytestmark = pytest.mark.slow

ROOT = course.ROOT
NO_NAMESPACES = [sys.executable, str(ROOT / "tests" / "helpers" / "no_namespaces.py")]
#: A representative subset of tests/hostile/cases.py (the whole corpus takes minutes per run):
#: what happens inside a worker (crash and restart, os._exit, a loop stopped at its limit, a
#: fork bomb), what must stay out of its view on a node (the reference, a classmate, the
#: machine's folders), and what the client must ship exactly (links, a linked folder,
#: bytecode, corrupt JSON), beside honest classmates.
HOSTILE = ("honest", "honest_a1", "segfault_in_layer", "os_exit_in_cell", "loop_in_cell",
           "fork_bomb", "read_reference", "copy_classmate", "write_outside", "linked_folder",
           "cached_bytecode", "corrupt_json")
#: Hostile cases embed their course's path (the files they try, a linked folder's target), so
#: each course's files, and their fingerprint, differ; everything else must be the same, the
#: course's folder aside.
HOSTILE_DROP = ("fingerprint",)
#: Where the scheduler gives up on a task whose workers die (the default is 3).
ALLOWED_FAILURES = 1
#: Generous: a deadline that only a hung cluster reaches, on two loaded cores.
DEADLINE = 600
#: Dask's config for every scheduler here: each worker holds only the task it runs, so a worker
#: killed by one submission does not count against another queued behind it.
SCHEDULER_CONFIG = {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                    "distributed.scheduler.worker-saturation": 1.0}


# ---------------------------------------------------------------------------------------------
# the classes

def _demo_class(root: Path) -> Path:
    """The demo class (grader.demo), released and submitted, not graded."""
    root.mkdir(parents=True)
    for bundle in release.release(root, log=lambda *args: None):
        assignment = course.get(bundle.name)
        for kind in demo.SAMPLES:
            demo.build_sample(kind, assignment, bundle, root / "submitted" / kind / assignment.id)
    return root


def _hostile_class(base: Path) -> Path:
    """HOSTILE's cases in <base>/course (the cases embed their course's path, so each run
    builds its own)."""
    root = base / "course"
    release.release(root, log=lambda *args: None)
    for name in HOSTILE:
        build_case(BY_NAME[name], root)
    return root


def _course_base() -> Path:
    from tests.test_hostile import _course_dir     # where an instructor's course would live
    return _course_dir()


def _grade(root, **kwargs):
    try:
        return grading.autograde(root, progress=False, log=lambda *args: None, **kwargs)
    except grading.GradingFailed as error:
        return error.outcomes


def _records(outcomes, drop=(), base=None) -> dict:
    """(assignment, student) -> the record, without what depends on the machine's speed (and
    the fields in `drop`), with the course's folder `base` written as <base>."""
    records = {}
    for outcome in outcomes:
        record = outcome.to_record()
        for timing in ("seconds", "own_seconds", *drop):
            record.pop(timing)
        if base is not None:
            record = json.loads(json.dumps(record).replace(str(base), "<base>"))
        key = (outcome.assignment, outcome.student)
        assert key not in records, f"{key} graded twice"
        records[key] = record
    return records


@pytest.fixture(scope="module")
def hostile_local():
    """The hostile subset graded by the local pool (the corpus's own settings)."""
    base = _course_base()
    try:
        root = _hostile_class(base)
        yield _records(_grade(root, jobs=2, budget=budget_for_tests()), HOSTILE_DROP, base)
    finally:
        clean(base.name)
        shutil.rmtree(base, ignore_errors=True)


def _same_as_local(graded, hostile_local, address, tmp_path):
    """Grade the demo class and the hostile subset on the cluster at `address`; both must get
    the local pool's records. Returns the demo course folder."""
    local_demo = _records(graded[1].values())
    demo_root = _demo_class(tmp_path / "demo")
    on_cluster = _records(_grade(demo_root, scheduler=address))
    assert on_cluster == local_demo
    base = _course_base()
    try:
        root = _hostile_class(base)
        on_cluster = _records(_grade(root, scheduler=address, budget=budget_for_tests()),
                              HOSTILE_DROP, base)
    finally:
        clean(base.name)
        shutil.rmtree(base, ignore_errors=True)
    assert on_cluster.keys() == hostile_local.keys()
    for key, record in hostile_local.items():
        assert on_cluster[key] == record, key
    return demo_root


def _gradebook_rows(root) -> dict:
    """(assignment, student) -> how many submissions nbgrader's gradebook holds."""
    from nbgrader.api import SubmittedAssignment
    with gradebook(root) as gb:
        rows = {}
        for row in gb.db.query(SubmittedAssignment).all():
            key = (row.assignment.name, row.student.id)
            rows[key] = rows.get(key, 0) + 1
    return rows


# ---------------------------------------------------------------------------------------------
# faults, injected where a worker is, not when

class KillOnce(WorkerPlugin):
    """SIGKILLs the worker process once, while it grades `student`'s `assignment`: when the
    submission has been materialised in its clean room's folder (the grading has begun).
    `marker` (created exclusively) makes it once across every worker and restart."""

    name = "test-kill-once"

    def __init__(self, assignment, student, marker):
        self.prefix = f"grade-{assignment}-{student}-"
        self.assignment, self.student, self.marker = assignment, student, str(marker)

    def setup(self, worker):
        self.worker = worker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).startswith(self.prefix):
            threading.Thread(target=self._kill_when_grading, daemon=True).start()

    def _kill_when_grading(self):
        room = self.worker.plugins.get(PLUGIN)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            folder = getattr(room, "folder", None)
            if folder and list(Path(folder).glob(
                    f"course/submitted/*/{self.student}/{self.assignment}/*")):
                break
            time.sleep(0.05)
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)


class KillAlways(WorkerPlugin):
    """SIGKILLs every worker that starts grading `student`: a submission that kills workers."""

    name = "test-kill-always"

    def __init__(self, student, log):
        self.student, self.log = student, str(log)

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and f"-{self.student}-" in str(key):
            with open(self.log, "a") as handle:
                handle.write(f"{os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# the clusters

@pytest.fixture(scope="module")
def local_cluster():
    with dask.config.set(SCHEDULER_CONFIG), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster:
        yield cluster


class Processes:
    """Dask's own commands, started here; stopped (with their children) by stop()."""

    def __init__(self, folder: Path):
        self.folder, self.started = folder, []
        self.env = {**os.environ, "PYTHONPATH": str(ROOT),
                    **{"DASK_" + k.upper().replace(".", "__").replace("-", "_"): str(v)
                       for k, v in SCHEDULER_CONFIG.items()}}

    def start(self, *command, wrapper=(), name):
        log = open(self.folder / f"{name}.log", "wb")
        process = subprocess.Popen([*wrapper, str(Path(sys.executable).parent / "dask"),
                                    *command], cwd=self.folder, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(process)
        return process

    def scheduler(self) -> str:
        file = self.folder / "scheduler.json"
        process = self.start("scheduler", "--host", "127.0.0.1", "--port", "0",
                             "--no-dashboard", "--scheduler-file", str(file), name="scheduler")
        deadline = time.monotonic() + DEADLINE
        while not file.is_file() or not file.read_text().strip():
            assert process.poll() is None, (self.folder / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        return address

    def worker(self, address, name, wrapper=()):
        return self.start("worker", address, "--nthreads", "1", "--nworkers", "1",
                          "--no-dashboard", "--name", name, "--local-directory",
                          str(self.folder / name), wrapper=wrapper, name=name)

    def stop(self):
        for process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.started):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_for_workers(address, count):
    with Client(address, set_as_default=False, timeout=DEADLINE) as client:
        client.wait_for_workers(count, timeout=DEADLINE)


# ---------------------------------------------------------------------------------------------
# the tests

def test_local_cluster_grades_as_the_local_pool(graded, hostile_local, local_cluster, tmp_path):
    _same_as_local(graded, hostile_local, local_cluster.scheduler_address, tmp_path)
    # the runs gave the scheduler's and the nannies' housekeeping back (cluster._quiet_server)
    for server in (local_cluster.scheduler, *local_cluster.workers.values()):
        assert server.periodic_callbacks["tick"].callback_time == 20
        assert not getattr(server, "grader_quieted", None)


def test_tcp_cluster_grades_as_the_local_pool_and_a_killed_worker_loses_nothing(
        graded, hostile_local, tmp_path):
    processes = Processes(tmp_path)
    try:
        address = processes.scheduler()
        for name in ("w1", "w2"):
            processes.worker(address, name)
        _wait_for_workers(address, 2)
        marker = tmp_path / "killed"
        # a3's correct answer: the longest submission of the demo class, graded while the rest
        # of the class waits in the queue
        with Client(address, set_as_default=False) as client:
            client.register_plugin(KillOnce("a3_neural_network", "correct", marker))
            root = _same_as_local(graded, hostile_local, address, tmp_path)
            client.unregister_worker_plugin(KillOnce.name)
        assert marker.exists(), "no worker was killed"
        # every submission graded once: one record each (_records), one gradebook row each
        assert _gradebook_rows(root) == {(a.id, s): 1 for a in course.available()
                                         for s in demo.SAMPLES}
    finally:
        processes.stop()


def test_a_submission_that_kills_its_workers_is_an_error_after_allowed_failures(
        local_cluster, tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    bundle = next(b for b in release.release(root, ["a1_matrix_calculus"], log=lambda *a: None))
    a1 = course.get("a1_matrix_calculus")
    for student in ("killer", "bystander"):
        demo.build_sample("correct", a1, bundle, root / "submitted" / student / a1.id)
    kills = tmp_path / "kills"
    with Client(local_cluster.scheduler_address, set_as_default=False) as client:
        client.register_plugin(KillAlways("killer", kills))
        try:
            with pytest.raises(grading.GradingFailed) as failed:
                grading.autograde(root, scheduler=local_cluster.scheduler_address,
                                  progress=False, log=lambda *args: None)
        finally:
            client.unregister_worker_plugin(KillAlways.name)
        client.wait_for_workers(2, timeout=DEADLINE)
    outcomes = {o.student: o for o in failed.value.outcomes}
    assert outcomes["bystander"].status == "graded" and outcomes["bystander"].total == 20
    killer = outcomes["killer"]
    assert killer.status.startswith("error"), killer.status
    assert f"killed {ALLOWED_FAILURES + 1} Dask workers" in killer.status, killer.status
    assert "allowed-failures" in killer.status
    assert len(kills.read_text().split()) == ALLOWED_FAILURES + 1      # tried, not forever
    record = json.loads(record_path(root, a1.id, "killer").read_text())
    assert record["status"] == killer.status and record["total"] == 0


def _files(folder):
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in Path(folder).rglob("*")}


def test_a_worker_that_cannot_confine_refuses_the_run(graded, tmp_path):
    course_dir = tmp_path / "course"
    shutil.copytree(graded[0], course_dir)
    before = _files(course_dir)
    processes = Processes(tmp_path)
    try:
        address = processes.scheduler()
        processes.worker(address, "weak", wrapper=NO_NAMESPACES)
        _wait_for_workers(address, 1)
        done = subprocess.run([sys.executable, "-m", "grader", "autograde",
                               "a1_matrix_calculus", "--force", "--course-dir", str(course_dir),
                               "--scheduler", address], cwd=ROOT, capture_output=True,
                              text=True, timeout=DEADLINE)
    finally:
        processes.stop()
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("grader autograde: "), done.stderr
    assert "refused" in lines[0] and "--allow-weak-isolation" in lines[0], lines[0]
    assert _files(course_dir) == before


def _done(root) -> dict:
    """record path -> its mtime, of every submission recorded as graded so far."""
    return {p: p.stat().st_mtime_ns for p in Path(root).glob(f"autograded/*/*/{RESULTS_FILE}")}


def test_a_killed_client_resumes_on_the_cluster_without_grading_anything_twice(
        graded, local_cluster, tmp_path):
    """`grader autograde --scheduler` SIGKILLed once three submissions are recorded; the same
    command again grades the rest, rewrites no finished record and duplicates nothing."""
    root = _demo_class(tmp_path / "demo")
    cheap = ("a1_matrix_calculus", "a2_backprop")     # a3's answers train networks: slower
    command = [sys.executable, "-m", "grader", "autograde", *cheap, "--course-dir", str(root),
               "--scheduler", local_cluster.scheduler_address]
    client = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + DEADLINE
        while len(_done(root)) < 3 and client.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.poll() is None, "the batch finished before it could be killed"
        client.send_signal(signal.SIGKILL)
        client.wait(DEADLINE)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    before = _done(root)
    expected = {(a, s) for a in cheap for s in demo.SAMPLES}
    assert 3 <= len(before) < len(expected)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE)
    assert f"{len(before)} submissions already graded (unchanged): skipped" in done.stdout, \
        done.stdout + done.stderr
    after = _done(root)
    assert len(after) == len(expected)
    assert all(after[p] == t for p, t in before.items()), "a finished record was rewritten"
    assert _gradebook_rows(root) == {key: 1 for key in expected}
    local = _records(graded[1].values())
    for a, s in expected:
        record = json.loads(record_path(root, a, s).read_text())
        for timing in ("seconds", "own_seconds"):
            record.pop(timing)
        assert record == local[(a, s)], (a, s)


def test_the_course_config_names_the_scheduler_and_local_overrides_it(tmp_path):
    """c.GraderCluster.scheduler in the course's nbgrader_config.py sends grading to that
    scheduler (here one that is not there: a one-line usage error naming it, nothing graded);
    `--scheduler local` grades on this machine whatever the config says."""
    from grader import nbconfig
    root = tmp_path / "course"
    root.mkdir()
    a1 = course.get("a1_matrix_calculus")
    bundle = release.release(root, [a1.id], log=lambda *args: None)[0]
    demo.build_sample("correct", a1, bundle, root / "submitted" / "correct" / a1.id)
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    (root / "nbgrader_config.py").write_text(f"c.GraderCluster.scheduler = {address!r}\n")
    assert nbconfig.scheduler(root) == address
    before = _files(root)
    with dask.config.set({"distributed.comm.timeouts.connect": "5s"}):
        with pytest.raises(course.UsageError, match="cannot reach the Dask scheduler at "
                           + address.replace(".", r"\.")):
            grading.autograde(root, ["a1_matrix_calculus"], ["correct"], force=True,
                              progress=False, log=lambda *args: None)
    assert _files(root) == before
    outcomes = grading.autograde(root, ["a1_matrix_calculus"], ["correct"], force=True,
                                 progress=False, log=lambda *args: None,
                                 scheduler=grading.LOCAL)
    assert [o.total for o in outcomes] == [demo.expected_score("correct", a1)]
