"""`grader autograde --scheduler ADDRESS`: the autograde verb's distributed back-end. Each
submission is one task on an existing Dask cluster (a LocalCluster, `dask scheduler` and
`dask worker` on a lab's machines, dask-jobqueue, dask-kubernetes: docs/scale.md).

No shared filesystem: this process (the client) reads each submission and what the clean room
needs of the release, and ships them as data. On every Dask worker process a WorkerPlugin
(CleanRoom) starts one fork server and checks, before it grades anything, that the worker
confines as local grading does (grader.doctor.check: weak isolation only with the instructor's
--allow-weak-isolation) and grades with the same code and packages as the client. A task
materialises its submission in a private course folder of that worker process and grades it
with autograde.grade_submission, the local pool's own function. Results stream back (Dask's
as_completed) to this process, the one writer of the gradebook and the records, which stores
them as the local pool does.

Faults are Dask's to handle: the tasks of a worker that dies are run again elsewhere, and each
submission's result is stored once, when it comes back. A submission whose workers die
`distributed.scheduler.allowed-failures` + 1 times (KilledWorker) is recorded as an error, which
the next run grades again. A rerun after this process was killed skips what is recorded and
unchanged, as locally.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import platform
import re
import shutil
import stat
import tempfile
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin

from . import course, doctor
from .autograde import grade_submission, one_blas_thread, releases, store_finished

PLUGIN = "grader-clean-room"
MAX_SHIPPED = 256 * 2 ** 20     # bytes of one submission a task carries
IN_FLIGHT_BYTES = 2 ** 30       # bytes of submissions waiting on the scheduler, at most
MIN_IN_FLIGHT = 8               # tasks in flight while the cluster has fewer threads


class Refused(doctor.IsolationRefused):
    """A worker does not grade: it cannot confine as the instructor allows, runs other code
    than the client, or belongs to another grading run."""


class TooLarge(ValueError):
    """A submission bigger than a task carries (MAX_SHIPPED)."""


class WorkersDied(RuntimeError):
    """Dask gave up on a submission whose workers kept dying (KilledWorker)."""


# -- what travels -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """One submission and what the clean room needs to grade it, as data."""
    run: str                    # the grading run (the CleanRoom it expects)
    assignment: str
    student: str
    release_nb: dict            # the released notebook: structure.rebuild's reference
    released: tuple             # (module name, bytes): put back where the submission lacks one
    files: tuple                # (relative path, kind, data, mode, mtime ns), parents first
    link: tuple | None          # ("folder" | "parent", target): a linked submission, not read
    budget: object              # cleanroom.Budget
    hide: tuple = ()            # the client's course folder: hidden where a worker shares its machine

    @property
    def size(self) -> int:
        return sum(len(data) for _, kind, data, _, _ in self.files if kind == "file")


def pack(folder: Path) -> tuple[tuple, tuple | None]:
    """(files, link) of a submission folder, as grader.sandbox.session sees it: every entry
    with its mode and time, links as their target (never followed), other special files as
    such. A linked submission folder (or student folder) is that link alone."""
    folder = Path(folder)
    for which, path in (("folder", folder), ("parent", folder.parent)):
        if path.is_symlink():
            return (), (which, os.readlink(path))
    files, size = [], 0
    for here, dirs, names in os.walk(folder):       # links to folders are listed, not entered
        dirs.sort()
        for name in sorted(dirs + names):
            path = os.path.join(here, name)
            info = os.lstat(path)
            relative = os.path.relpath(path, folder)
            mode, mtime = stat.S_IMODE(info.st_mode), info.st_mtime_ns
            if stat.S_ISLNK(info.st_mode):
                files.append((relative, "link", os.readlink(path), 0, 0))
            elif stat.S_ISDIR(info.st_mode):
                files.append((relative, "dir", b"", mode, mtime))
            elif stat.S_ISREG(info.st_mode):
                size += info.st_size
                if size > MAX_SHIPPED:
                    raise TooLarge(f"the submission holds more than {MAX_SHIPPED >> 20} MB, "
                                   "more than a cluster task carries: grade it on this machine "
                                   "(`grader autograde --scheduler local --student ...`)")
                with open(path, "rb") as handle:
                    files.append((relative, "file", handle.read(), mode, mtime))
            else:
                files.append((relative, "special", b"", mode, mtime))
    return tuple(files), None


def materialise(job: Job, base: Path) -> Path:
    """The submission as a folder <base>/<student>/<assignment>, as it was submitted."""
    student = base / job.student
    folder = student / job.assignment
    if job.link:
        which, target = job.link
        (base if which == "parent" else student).mkdir(parents=True, exist_ok=True)
        os.symlink(target, student if which == "parent" else folder)
        return folder
    folder.mkdir(parents=True)
    for relative, kind, data, _, _ in job.files:
        path = _inside(folder, relative)
        if kind == "dir":
            path.mkdir()
        elif kind == "file":
            path.write_bytes(data)
        elif kind == "link":
            os.symlink(data, path)
        else:
            os.mkfifo(path)         # what it was matters not: the clean room never copies it
    for relative, kind, _, mode, mtime in reversed(job.files):     # a folder after its files
        if kind != "link":
            path = _inside(folder, relative)
            os.chmod(path, mode)
            os.utime(path, ns=(mtime, mtime))
    return folder


def _inside(folder: Path, relative: str) -> Path:
    path = folder / relative
    if os.path.isabs(relative) or ".." in Path(relative).parts:
        raise ValueError(f"{relative!r} is not inside the submission")
    return path


def job_for(run, assignment, student, folder, release_nb, root, budget) -> Job:
    released = tuple((name, (Path(root) / "release" / assignment.id / name).read_bytes())
                     for name in sorted(assignment.modules)
                     if (Path(root) / "release" / assignment.id / name).is_file())
    files, link = pack(folder)
    return Job(run, assignment.id, student, release_nb, released, files, link, budget,
               (str(Path(root).resolve()),))


# -- the worker's side --------------------------------------------------------------------------

def code_identity() -> dict:
    """What decides a grade besides the submission: Python, the project's pinned packages and a
    digest of the grader's code (grader/, source_layers/). Every node must have the same."""
    from importlib.metadata import PackageNotFoundError, requires, version
    digest = hashlib.sha256()
    for top in (Path(__file__).resolve().parent, course.SOURCE_LAYERS):
        for path in sorted(top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(top.parent)).encode() + b"\0")
                digest.update(path.read_bytes())
    found = {"python": platform.python_version(), "grader code": digest.hexdigest()[:16]}
    try:
        wanted = [r for r in requires("nn-course-grader") or () if "extra ==" not in r]
    except PackageNotFoundError:
        wanted = []
    for requirement in wanted:
        name = re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0]
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def differences(client: dict, worker: dict) -> list[str]:
    return [f"{key} {worker.get(key, 'missing')} here, {value} on the client"
            for key, value in client.items() if worker.get(key) != value]


def _seceding_gate(cores: int):
    """The local pool's CoreGate for a Dask worker process. The local pool keeps twice as many
    submissions in flight as cores, so that one that waits (a sleeping cell) lends its core to
    the next; a Dask worker starts a task only on a free thread. So a task that lends its core
    also leaves the worker's thread pool (Dask's secede(), once per task): the worker starts
    its next task, which takes the lent core, and the gate still bounds what computes."""
    from distributed import secede

    from .sandbox.gate import CoreGate

    class SecedingGate(CoreGate):
        seceded = threading.local()

        def release(self, lending=False):
            super().release(lending)
            if lending and not getattr(self.seceded, "done", False):
                try:
                    secede()
                    self.seceded.done = True
                except (ValueError, AttributeError, KeyError):
                    pass            # not a Dask task's thread: lending within the gate only

    return SecedingGate(cores)


def _without_nanny_environ():
    """Dask's nanny starts a worker with `distributed.nanny.pre-spawn-environ`, among them
    MALLOC_TRIM_THRESHOLD_=65536: glibc then hands every freed block back to the system and
    maps it again, which makes numpy code (a student's training) cost 1.5x the CPU. The fork
    server and the submissions' workers get the environment the local pool gives them."""
    import dask
    for name, value in (dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}).items():
        if os.environ.get(name) == str(value):
            del os.environ[name]
            if name == "MALLOC_TRIM_THRESHOLD_":
                _untrimmed()


def _untrimmed():
    """This process read MALLOC_TRIM_THRESHOLD_ at its start: glibc then neither raises its
    mmap threshold as large arrays come and go, so each array of 128 KiB or more is mapped,
    faulted in and unmapped again, nor keeps freed memory. The grader's own checks (training
    the student's network, the reference's numerical gradients) run here: glibc's default
    steady state instead (arrays up to 32 MiB on the heap, trimmed past twice that)."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 32 << 20)          # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)          # M_TRIM_THRESHOLD
    except (OSError, AttributeError):       # not glibc: nothing was set there either
        pass


#: A Dask worker's own periodic work while it grades (None: paused), in ms; its nanny's and the
#: scheduler's likewise, where they have it (`_quiet_server`). A worker's statistical
#: profiler walks the stack of every busy task thread 100 times a second: on a grading task,
#: 1.9 % of the task's CPU here; the event-loop health check (every 20 ms) and the system and
#: memory monitors (500 and 100 ms) cost an idle worker 2 % of a core (docs/scale.md). The
#: memory monitor still enforces the worker's memory limit, the health check still sees a
#: blocked loop: only less often. A submission's own memory is limited by its clean room.
QUIETER = {"profile": None, "profile-cycle": None, "tick": 200, "monitor": 2000,
           "memory_monitor": 500}


def _quieter(worker) -> dict:
    """Slow or pause the worker's running housekeeping (QUIETER) for this run; returns what
    to undo (name -> (callback, its interval))."""
    changed = {}
    for name, interval in QUIETER.items():
        callback = (getattr(worker, "periodic_callbacks", None) or {}).get(name)
        if callback is None or not callback.is_running():
            continue
        changed[name] = (callback, callback.callback_time)
        if interval is None:
            callback.stop()
        else:
            callback.callback_time = max(callback.callback_time, interval)
    return changed


def _restored(changed: dict):
    for callback, interval in changed.values():
        callback.callback_time = interval
        if not callback.is_running():
            callback.start()


def _quiet_server(dask_worker=None, dask_scheduler=None):
    """A worker's (the plugin's setup), each nanny's (Client.run, nanny=True) and the
    scheduler's (run_on_scheduler) housekeeping quieted for this run. The nannies and the
    scheduler keep house by the second too: on a LocalCluster of 1 x 2, idle, the client's
    process (scheduler, nanny, client) spent 0.9 s of CPU in 30 s, 0.33 s quieted
    (bench/README.md). A run killed before it gave them back leaves them quieted; the next
    run gives back the first intervals."""
    server = dask_worker if dask_worker is not None else dask_scheduler
    if not getattr(server, "grader_quieted", None):
        server.grader_quieted = _quieter(server)


def _loud_server(dask_worker=None, dask_scheduler=None):
    server = dask_worker if dask_worker is not None else dask_scheduler
    _restored(getattr(server, "grader_quieted", None) or {})
    server.grader_quieted = None


def _housekeeping(client, function):
    """`function` on the nannies and the scheduler, where it can run: a worker started
    without a nanny has none, and a scheduler that cannot import the grader (installed only
    on the workers) keeps its own pace. Neither affects a grade, nor may stop the run."""
    with contextlib.suppress(Exception):    # noqa: BLE001 -- whatever a nanny says
        client.run(function, nanny=True, on_error="ignore")
    with contextlib.suppress(Exception):    # noqa: BLE001 -- whatever the scheduler says
        client.run_on_scheduler(function)


class CleanRoom(WorkerPlugin):
    """The Dask WorkerPlugin of one grading run: on each worker process, one fork server, a
    core gate, a private folder for the submissions it grades, and the verdict on whether this
    worker may grade at all (`refused`)."""

    name = PLUGIN

    def __init__(self, run: str, allow_weak: bool, isolation: str | None, code: dict):
        self.run, self.allow_weak, self.isolation, self.code = run, allow_weak, isolation, code
        self.refused = "not set up"
        self.fork_server = None
        self.mode = None
        self.blas = None            # this process's one BLAS thread, while set up

    async def setup(self, worker):
        _quiet_server(dask_worker=worker)
        await asyncio.to_thread(self._start, worker.address, worker.state.nthreads)

    def _start(self, address, nthreads):
        from .sandbox.session import WORK_PREFIX, ForkServer
        wrong = differences(self.code, code_identity())
        if wrong:
            self.refused = (f"refused: worker {address} grades with other code than the client "
                            f"({'; '.join(wrong)}): install the same repository and packages on "
                            "every node (docs/scale.md)")
            raise Refused(self.refused)
        _without_nanny_environ()
        self.fork_server = ForkServer()
        self.fork_server.mode = self.isolation
        try:
            self.mode = doctor.check({**self.fork_server.probed,
                                      "mode": self.fork_server.isolation}, self.allow_weak)
        except doctor.IsolationRefused as error:
            self.fork_server.close()
            self.fork_server = None
            self.refused = f"worker {address}: {error}"
            raise Refused(self.refused) from None
        # The cores are for the submissions, as locally: one BLAS thread in this process
        # (autograde.one_blas_thread), until teardown. Load what grading computes with first:
        # the limit reaches the libraries loaded when it is set (the environment, those loaded
        # later by a library that reads it).
        import scipy.optimize  # noqa: F401

        from . import cleanroom  # noqa: F401
        self.blas = contextlib.ExitStack()
        self.blas.enter_context(one_blas_thread())
        self.gate = _seceding_gate(max(1, min(nthreads, len(os.sched_getaffinity(0)))))
        # named as the clean room's own copies are: a killed worker's folder is swept
        self.folder = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-node-"))
        self.lock = threading.Lock()
        self.refused = None

    async def teardown(self, worker):
        _loud_server(dask_worker=worker)
        await asyncio.to_thread(self._stop)

    def _stop(self):
        if self.blas is not None:
            self.blas.close()
        if self.fork_server is not None:
            self.fork_server.close()
        if getattr(self, "folder", None):
            shutil.rmtree(self.folder, ignore_errors=True)

    def _course(self, job: Job) -> Path:
        """This run's course folder on this worker, with the modules of the release."""
        root = self.folder / "course"
        release = root / "release" / job.assignment
        with self.lock:
            if not release.is_dir():
                release.mkdir(parents=True)
                for name, data in job.released:
                    (release / name).write_bytes(data)
        return root

    def grade(self, job: Job):
        self.gate.seceded.done = False      # this thread runs a new task
        root = self._course(job)
        base = root / "submitted" / uuid.uuid4().hex
        try:
            folder = materialise(job, base)
            return grade_submission(course.get(job.assignment), job.release_nb,
                                    self.fork_server, job.budget, root, self.gate, folder,
                                    job.hide)
        finally:
            shutil.rmtree(base, ignore_errors=True)


def grade_task(job: Job):
    """A Dask task: one submission graded in this worker's clean room."""
    from distributed import get_worker
    worker = get_worker()
    room = worker.plugins.get(PLUGIN)
    if room is None or room.run != job.run:
        raise Refused(f"refused: another grading run took over the cluster's workers (at "
                      f"{worker.address}); one `grader autograde` per cluster at a time")
    if room.refused:
        raise Refused(room.refused)
    return room.grade(job)


def describe_worker(dask_worker=None):
    room = dask_worker.plugins.get(PLUGIN)
    return {"mode": getattr(room, "mode", None), "refused": getattr(room, "refused", "none")}


# -- the client's side --------------------------------------------------------------------------

def connect(address: str):
    """A Client of the scheduler at `address` (tcp://host:port, or a scheduler file)."""
    from distributed import Client
    try:
        if address.endswith(".json") and Path(address).is_file():
            return Client(scheduler_file=address, set_as_default=False)
        return Client(address, set_as_default=False)
    except (OSError, ValueError, TypeError) as error:
        raise course.UsageError(f"cannot reach the Dask scheduler at {address}: {error}") from None


def _plugin(client, run, allow_weak, isolation, log):
    """Register this run's CleanRoom on every worker (and every worker that joins later);
    refuses the run, before anything is graded, where a worker refuses."""
    try:
        client.register_plugin(CleanRoom(run, allow_weak, isolation, code_identity()),
                               name=PLUGIN)
    except doctor.IsolationRefused:
        raise
    except Exception as error:      # noqa: BLE001  (a worker failed to set up its clean room)
        raise Refused(f"refused: a worker could not set up the clean room: "
                      f"{type(error).__name__}: {error}") from None
    states = client.run(describe_worker)
    modes = sorted({s["mode"] for s in states.values() if s["mode"]})
    threads = sum(client.nthreads().values())
    log(f"grading on the Dask cluster at {client.scheduler.address}: {len(states)} workers, "
        f"{threads} threads, isolation {', '.join(modes) or 'not known yet'}"
        + ("" if states else " (no worker yet: the tasks wait for workers to join)"))
    if "weak" in modes:
        log("WARNING: grading with weak isolation (no namespaces): every result says so")


def _failed(error) -> Future:
    future = Future()
    future.set_exception(error)
    return future


class _Result:
    """A Dask future as autograde._record reads it, a KilledWorker said plainly."""

    def __init__(self, future):
        self.future = future

    def result(self):
        from distributed.scheduler import KilledWorker
        try:
            return self.future.result()
        except KilledWorker as error:
            raise WorkersDied(
                f"its grading killed {error.allowed_failures + 1} Dask workers (the last "
                f"{error.last_worker.address}), and the cluster gave up on it "
                f"(distributed.scheduler.allowed-failures = {error.allowed_failures}): see "
                "that worker's log") from None


def _finished(client, run, todo, root, released, budget):
    """((assignment, student, folder), result) as each submission's task ends, at most
    2 x the cluster's threads (and IN_FLIGHT_BYTES) submitted ahead: the client reads a
    submission only when it is about to be graded, and the scheduler holds a bounded part of
    the class."""
    from distributed import as_completed
    pending = iter(todo)
    running = as_completed(loop=client.loop)
    of, size = {}, {}
    while True:
        limit = max(MIN_IN_FLIGHT, 2 * sum(client.nthreads().values()))
        while running.count() < limit and sum(size.values()) < IN_FLIGHT_BYTES:
            item = next(pending, None)
            if item is None:
                break
            assignment, student, folder = item
            try:
                job = job_for(run, assignment, student, folder, released[assignment.id],
                              root, budget)
            except (OSError, ValueError) as error:
                yield item, _failed(error)
                continue
            future = client.submit(grade_task, job, key=f"grade-{assignment.id}-{student}-{run}",
                                   pure=False)
            of[future.key], size[future.key] = item, job.size
            running.add(future)
        if running.is_empty():
            return
        future = next(running)
        item = of.pop(future.key)
        size.pop(future.key)
        if future.status == "error" and isinstance(future.exception(), Refused):
            raise future.exception()
        yield item, _Result(future)
        future.release()


def grade_on_cluster(address, root, todo, budget, allow_weak, isolation, log, progress,
                     outcomes) -> int:
    """Grade `todo` on the Dask cluster at `address`, storing each result here as it comes
    back; returns how many failed. Raises doctor.IsolationRefused (exit 2) where a worker
    refuses, before anything is graded (or, for a worker that joins later, when it would)."""
    if not todo:
        return 0
    run = uuid.uuid4().hex[:12]
    released = releases(root, todo)
    with connect(address) as client:
        _plugin(client, run, allow_weak, isolation, log)
        try:
            _housekeeping(client, _quiet_server)
            return store_finished(root, _finished(client, run, todo, root, released, budget),
                                  released, None, len(todo), log, progress, outcomes)
        finally:        # the workers' fork servers end with the run (the cluster may be shared)
            with contextlib.suppress(Exception):
                client.unregister_worker_plugin(PLUGIN)
            _housekeeping(client, _loud_server)
