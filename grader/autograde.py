"""`grader autograde`: every submission graded in the clean room (grader.cleanroom), in
parallel, into nbgrader's gradebook through its API -- so formgrader and nbgrader's own commands
keep working -- with a record per submission that makes a killed batch resumable.

A submission nbgrader could not grade still gets a grade here: a missing or corrupt notebook is
zero with the reason; a crash or a hang costs only the checks it touched.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from . import course, doctor, nbconfig, notebooks
from .nncheck import cells
from .records import Outcome, record_path, save, submissions
from .summary import summary, table

def fingerprint(folder: Path) -> str:
    """What was submitted, to tell a graded submission from a resubmitted one on resume."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_symlink():               # never followed (it could be /dev/zero)
            digest.update(b"link:" + os.fsencode(os.readlink(path)))
        elif path.is_file():
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def failed_outcome(assignment, student, release_nb, error: BaseException) -> Outcome:
    """The record of a submission the grader itself failed on: zero, the reason, and a status
    that makes the next run grade it again."""
    why = f"{type(error).__name__}: {error}"[:500]
    return Outcome(student, assignment.id, f"error: the grader failed on this submission "
                   f"({why}); rerun to grade it again",
                   {c: (0.0, p) for c, p in cells.test_points(release_nb).items()}, {},
                   cells.manual_points(release_nb), [f"the grader failed: {why}"])


# findings that change nothing in what was graded: reported, but not as something that failed
NOTE_KINDS = ("renamed_notebook", "reordered_cells")


def outcome_of(assignment, student, graded, manual) -> Outcome:
    notes = [f.message for f in graded.findings if f.kind in NOTE_KINDS]
    outcome = Outcome(student, assignment.id, "graded", dict(graded.scores),
                      {k: v for k, v in graded.public.items() if k in graded.scores},
                      dict(manual), list(graded.flags),
                      [e for e in graded.events if e not in notes],
                      hidden=dict(graded.hidden), notes=notes)
    if graded.notebook is None:
        kinds = {f.kind for f in graded.findings}
        why = next((f.message for f in graded.findings), "no notebook")
        outcome.status = f"zero: {why}" if kinds else "zero: no notebook"
    return outcome


ESTIMATE_MAX_BYTES = 10 * 2 ** 20


def expected_cost(assignment: course.Assignment, folder: Path) -> int:
    """How much code a submission runs, in bytes: the notebook's code cells and the modules
    (one that does not compile runs nothing, and the cells that use it fail at once).
    Grading the biggest first (longest processing time first) leaves small ones to fill the
    cores at the end of a batch, instead of one long submission running alone."""
    size = 0
    for name in assignment.modules:
        path = folder / name
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= ESTIMATE_MAX_BYTES:
            source = path.read_bytes()
            try:
                compile(source, name, "exec", dont_inherit=True)
                size += len(source)
            except (SyntaxError, ValueError):
                pass
    path = folder / assignment.notebook
    try:
        if path.is_symlink() or path.stat().st_size > ESTIMATE_MAX_BYTES:
            return size            # not worth parsing here (structure.rebuild reports it)
        nb = json.loads(path.read_text())
        size += sum(len("".join(cell.get("source", ""))) for cell in nb.get("cells", [])
                    if isinstance(cell, dict) and cell.get("cell_type") == "code")
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    return size


LOCAL = "local"     # --scheduler local: this machine's cores, whatever nbgrader_config.py says


def default_jobs() -> int:
    """One submission computing per core (grader.sandbox.gate lends the core of one that waits)."""
    return os.cpu_count() or 1


def autograde(root: Path, assignment_ids=None, students=None, jobs=None, force=False,
              log=print, progress=True, budget=None, allow_weak=False,
              isolation=None, scheduler=None) -> list[Outcome]:
    """Raises doctor.IsolationRefused (before anything is written) where the clean room would
    run without namespaces and `allow_weak` is not given. `isolation` forces a weaker mode than
    the machine's best (bench/isolation_bench.py compares them). `scheduler`: the address of a
    Dask scheduler whose workers grade (grader.cluster); None: nbgrader_config.py's
    `c.GraderCluster.scheduler`, if any; "local" or none: this machine's cores."""
    from .sandbox.session import ForkServer

    root = course.require_course(root)
    assignments = ([course.get(a) for a in assignment_ids] if assignment_ids
                   else course.available())
    scheduler = nbconfig.scheduler(root) if scheduler is None else scheduler
    if scheduler and scheduler != LOCAL:
        from .cluster import grade_on_cluster
        outcomes, todo = _todo(root, assignments, students, force, bool(assignment_ids))
        if outcomes:
            log(f"{len(outcomes)} submissions already graded (unchanged): skipped")
        failures = grade_on_cluster(scheduler, root, todo, budget or _budget(), allow_weak,
                                    isolation, log, progress, outcomes)
        return _finish(outcomes, failures)
    fork_server = ForkServer()       # first: its imports (numpy, scipy, ...) overlap nbgrader's below
    try:
        fork_server.mode = isolation
        if doctor.check({**fork_server.probed, "mode": fork_server.isolation}, allow_weak) == "weak":
            log("WARNING: grading with weak isolation (no namespaces): every result says so")
        outcomes, todo = _todo(root, assignments, students, force, bool(assignment_ids))
        if outcomes:
            log(f"{len(outcomes)} submissions already graded (unchanged): skipped")
        failures = _grade_all(root, assignments, todo, fork_server, jobs or default_jobs(),
                              budget, log, progress, outcomes)
    finally:
        fork_server.close()
    return _finish(outcomes, failures)


def _finish(outcomes, failures):
    outcomes.sort(key=lambda o: (o.assignment, o.student))
    if failures:
        raise GradingFailed(f"{failures} submissions could not be graded", outcomes)
    return outcomes


def _todo(root, assignments, students, force, explicit=True):
    """(outcomes of the submissions graded before and unchanged since, the rest to grade,
    biggest first)."""
    from .nbgrader_api import api_for, gradebook
    api_for(root)                           # PATH / kernels / config for nbgrader's API
    warnings.filterwarnings("ignore", message=".*not in session.*")
    with gradebook(root) as gb:
        known = {a.name for a in gb.assignments}
    outcomes, todo = [], []
    if not explicit:
        assignments = [a for a in assignments if a.id in known]   # every released one
    for assignment in assignments:
        if assignment.id not in known:
            raise course.UsageError(f"{assignment.id} has not been released in "
                                    f"{course.where(root)}: run `grader release "
                                    f"{assignment.id} --course-dir {root}` first")
    for student in students or ():
        if not any((root / "submitted" / student / a.id).is_dir() for a in assignments):
            which = " or ".join(a.id for a in assignments)
            raise course.UsageError(f"no submission of {which} by {student} in "
                                    f"{root / 'submitted'} (looked for "
                                    f"{root / 'submitted' / student / assignments[0].id})")
    for assignment in assignments:
        for student in students or submissions(root, assignment.id):
            folder = root / "submitted" / student / assignment.id
            if not folder.is_dir():
                continue
            path = record_path(root, assignment.id, student)
            if not force and path.exists():
                done = Outcome.from_record(json.loads(path.read_text()))
                if done.fingerprint == fingerprint(folder) and not done.status.startswith("error"):
                    outcomes.append(done)
                    continue
            todo.append((assignment, student, folder))
    if not outcomes and not todo:
        raise course.UsageError(f"nothing to grade: no submission in "
                                f"{root / 'submitted'}/<student>/"
                                f"{'|'.join(a.id for a in assignments)}/")
    todo.sort(key=lambda item: -expected_cost(item[0], item[2]))
    return outcomes, todo


def grade_submission(assignment, release_nb, fork_server, budget, course_root, gate, folder,
                     hide=()):
    """One submission in the clean room: (Graded, wall seconds from its core on, the isolation
    it had). The local pool's threads and a cluster's tasks (grader.cluster) both call this.
    `hide`: folders no worker may see besides the course's (a cluster's client's course, on a
    machine it shares with a worker)."""
    from .cleanroom import Grader
    with gate:
        started = time.perf_counter()
        grader = Grader(assignment, release_nb, fork_server, budget, course_root=course_root,
                        gate=gate)
        grader.hide += [str(p) for p in map(Path, hide)
                        if p.is_dir() and str(p) not in grader.hide]
        graded = grader.grade(folder)
        return graded, time.perf_counter() - started, fork_server.isolation


def releases(root, todo) -> dict:
    """assignment id -> its released notebook, for the assignments in `todo`."""
    return {a.id: notebooks.load(Path(root) / "release" / a.id / a.notebook)
            for a in {a.id: a for a, _, _ in todo}.values()}


def _budget():
    from .cleanroom import Budget
    return Budget()


_BLAS = {"users": 0, "saved": {}, "limits": None}
_BLAS_LOCK = threading.Lock()


@contextlib.contextmanager
def one_blas_thread():
    """This process's BLAS and OpenMP on one thread while it grades: the cores are the
    submissions'. threadpoolctl limits the libraries loaded already; one loaded later reads
    the environment when it loads (scipy's own OpenBLAS, with the training check's first
    L-BFGS-B), so the environment says one thread too -- left at two, its idle threads spun
    after every call (2.2 s of CPU in a 4-submission run, 3 % of it). Libraries loaded in
    between keep the one thread. Overlapping users (two clean rooms in one process) share it:
    the first sets it, the last gives the environment and the limits back."""
    from threadpoolctl import threadpool_limits

    from .sandbox.session import THREAD_VARS
    with _BLAS_LOCK:
        if not _BLAS["users"]:
            _BLAS["saved"] = {name: os.environ.get(name) for name in THREAD_VARS}
            os.environ.update({name: "1" for name in THREAD_VARS})
            _BLAS["limits"] = threadpool_limits(1)
        _BLAS["users"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS["users"] -= 1
            if not _BLAS["users"]:
                _BLAS["limits"].restore_original_limits()
                for name, value in _BLAS["saved"].items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value


def _grade_all(root, assignments, todo, fork_server, jobs, budget, log, progress, outcomes):
    """Grade `todo` in parallel, storing each as it finishes; returns how many failed."""
    from .sandbox.gate import CoreGate
    budget = budget or _budget()
    gate = CoreGate(jobs)
    released = releases(root, todo)
    # twice as many in flight as compute: room for those that wait (a sleeping cell)
    with one_blas_thread(), ThreadPoolExecutor(max_workers=2 * jobs) as pool:
        futures = {pool.submit(grade_submission, a, released[a.id], fork_server, budget, root,
                               gate, f): (a, s, f) for a, s, f in todo}
        return store_finished(root, ((futures[f], f) for f in as_completed(futures)), released,
                              fork_server.isolation, len(todo), log, progress, outcomes)


def store_finished(root, finished, released, isolation, total, log, progress, outcomes) -> int:
    """Store each ((assignment, student, folder), future) of `finished` as it comes (this
    process is the one writer of the gradebook and the records), with the progress bar;
    returns how many failed. `isolation`: what a failure is recorded with."""
    failures = 0
    with _progress(total, progress) as bar:
        for (assignment, student, folder), future in finished:
            outcome = _record(root, assignment, student, folder, future,
                              released[assignment.id], isolation, log)
            failures += outcome.status.startswith("error")
            outcomes.append(outcome)
            if bar:
                bar.update(1)
            else:
                log(f"{assignment.id} {student}: {outcome.total:g}/{outcome.max_total:g} "
                    f"({outcome.status}{'; FLAGGED' if outcome.flags else ''})")
    return failures


@contextlib.contextmanager
def _progress(total, shown):
    bar = None
    if shown and total:
        from tqdm import tqdm
        bar = tqdm(total=total, unit="submission", desc="grading", leave=False)
    try:
        yield bar
    finally:
        if bar:
            bar.close()


def _record(root, assignment, student, folder, future, release_nb, isolation, log) -> Outcome:
    """A finished grading into the gradebook, autograded/ and the record (written last: it
    marks the submission done). A failure of the grader costs this submission only: it is
    recorded as an error, which the next run grades again. `future.result()` is
    grade_submission's (graded, seconds, isolation); `isolation` is what a failure is recorded
    with (unknown, None, for a cluster's task)."""
    from .cleanroom import Graded
    from .nbgrader_api import store
    try:
        graded, seconds, isolation = future.result()
        outcome = outcome_of(assignment, student, graded, cells.manual_points(release_nb))
        outcome.seconds, outcome.own_seconds = seconds, graded.own_seconds
        outcome.fingerprint = fingerprint(folder)
        outcome.isolation = isolation
        store(root, assignment, student, folder, graded, outcome)
    except Exception as error:      # the grader's fault: this submission only
        log(f"{assignment.id} {student}: the grader failed, recorded as an error "
            f"(rerun to retry):\n{traceback.format_exc()}")
        outcome = failed_outcome(assignment, student, release_nb, error)
        outcome.isolation = isolation or ""
        try:
            store(root, assignment, student, folder, Graded(None), outcome)
        except Exception:           # noqa: BLE001  (the record still says why)
            log(f"{assignment.id} {student}: not in the gradebook either")
    outcome.graded_now = True
    save(root, outcome)
    return outcome


class GradingFailed(RuntimeError):
    def __init__(self, message, outcomes):
        super().__init__(message)
        self.outcomes = outcomes


def add_arguments(parser):
    parser.add_argument("assignments", nargs="*", help="default: every released assignment")
    parser.add_argument("--course-dir", type=Path, default=course.DEFAULT_COURSE,
                        help=f"default: {course.DEFAULT_COURSE}")
    parser.add_argument("--student", action="append", help="only this student (repeatable)")
    parser.add_argument("--jobs", type=int,
                        help="submissions computing at once on this machine (default: the "
                             "number of cores; one that waits lends its core to the next); on a "
                             "cluster, each Dask worker's threads")
    parser.add_argument("--force", action="store_true",
                        help="regrade submissions that are already graded and unchanged")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="grade on this Dask cluster (tcp://host:8786, or a scheduler file): "
                             "each submission a task, the results stored here (docs/scale.md); "
                             "default: nbgrader_config.py's c.GraderCluster.scheduler, else this "
                             f"machine's cores (`{LOCAL}`)")
    add_isolation_argument(parser)
    parser.add_argument("--table", action="store_true",
                        help="print the full matrix: a row per check, a column per student")
    parser.add_argument("--time-limit", type=float, metavar="SECONDS",
                        help=f"wall-clock budget of one submission (default "
                             f"{_budget_default('submission'):g})")
    parser.add_argument("--memory-limit", type=int, metavar="MB",
                        help=f"address space of a worker running student code (default "
                             f"{_budget_default('memory') // 2 ** 20})")


def _budget_default(name):
    from .cleanroom import Budget
    return getattr(Budget(), name)


def budget_for(time_limit=None, memory_limit_mb=None):
    """The clean room's limits, with a submission's time and a worker's memory as given."""
    from dataclasses import replace

    from .cleanroom import Budget
    budget = Budget()
    if time_limit:
        budget = replace(budget, submission=float(time_limit),
                         cell=min(budget.cell, float(time_limit)),
                         slow_check=min(budget.slow_check, float(time_limit)))
    if memory_limit_mb:
        budget = replace(budget, memory=int(memory_limit_mb) * 2 ** 20)
    return budget


def add_isolation_argument(parser):
    parser.add_argument(doctor.WEAK_FLAG, action="store_true",
                        help="where the machine allows no namespaces (see `grader doctor`), "
                             "grade anyway with rlimits and the audit hook only; every result "
                             "records it")


def run(args) -> int:
    started = time.perf_counter()
    code = 0
    try:
        outcomes = autograde(args.course_dir, args.assignments or None, args.student or None,
                             jobs=args.jobs, force=args.force, log=print,
                             budget=budget_for(args.time_limit, args.memory_limit),
                             allow_weak=args.allow_weak_isolation, scheduler=args.scheduler)
    except doctor.IsolationRefused as error:
        print(f"grader autograde: {error}", file=sys.stderr)
        return 2
    except GradingFailed as error:
        outcomes, code = error.outcomes, 1
        print(f"grader autograde: {error}")
    if args.table:
        print(table(outcomes))
    print(summary(outcomes, args.course_dir, time.perf_counter() - started,
                  table_shown=args.table))
    if any(not o.status == "graded" for o in outcomes):
        code = 1            # a submission recorded as zero: its reason is in the summary
    return code
