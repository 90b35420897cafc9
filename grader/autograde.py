"""`grader autograde`: every submission graded in the clean room (grader.cleanroom), in
parallel, into nbgrader's gradebook through its API -- so formgrader and nbgrader's own commands
keep working -- with a record per submission that makes a killed batch resumable.

A submission nbgrader could not grade still gets a grade here: a missing or corrupt notebook is
zero with the reason; a crash or a hang costs only the checks it touched.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from . import course, doctor, notebooks

RESULTS_FILE = "grader_results.json"


@dataclass
class Outcome:
    """One graded submission; saved as <root>/autograded/<student>/<assignment>/RESULTS_FILE,
    which feedback, reports and exports read (the gradebook stays nbgrader's)."""
    student: str
    assignment: str
    status: str                                  # "graded" or why it was zero-filled
    scores: dict = field(default_factory=dict)   # check id -> (score, max) of autograded cells
    messages: dict = field(default_factory=dict)  # check id -> failure message
    manual: dict = field(default_factory=dict)   # grade id -> max points, graded by hand
    flags: list = field(default_factory=list)    # reasons to look closer (possible tampering)
    events: list = field(default_factory=list)   # what happened: timeouts, crashes, repairs
    seconds: float = 0.0
    hidden: dict = field(default_factory=dict)   # check id -> instructor-only message
    fingerprint: str = ""
    isolation: str = ""                          # grader.sandbox.confine mode it ran in
    own_seconds: float = 0.0                     # its cost on its own clock (the budget's)

    def to_record(self) -> dict:
        return {
            "assignment": self.assignment, "student": self.student, "status": self.status,
            "total": self.total, "max_total": self.max_total, "seconds": round(self.seconds, 3),
            "fingerprint": self.fingerprint,
            "checks": {check: {"points": score, "max_points": maximum,
                               "passed": score >= maximum,
                               "message": self.messages.get(check, ""),
                               "public_message": self.messages.get(check, ""),
                               "hidden_message": self.hidden.get(check, "")}
                       for check, (score, maximum) in self.scores.items()},
            "manual": self.manual, "flags": self.flags, "events": self.events,
            "isolation": self.isolation, "own_seconds": round(self.own_seconds, 3),
        }

    @classmethod
    def from_record(cls, record: dict) -> "Outcome":
        checks = record.get("checks", {})
        return cls(record["student"], record["assignment"], record["status"],
                   {k: (v["points"], v["max_points"]) for k, v in checks.items()},
                   {k: v["message"] for k, v in checks.items() if v.get("message")},
                   record.get("manual", {}), record.get("flags", []), record.get("events", []),
                   record.get("seconds", 0.0),
                   {k: v["hidden_message"] for k, v in checks.items() if v.get("hidden_message")},
                   record.get("fingerprint", ""), record.get("isolation", ""),
                   record.get("own_seconds", 0.0))

    @property
    def total(self):
        return sum(score for score, _ in self.scores.values())

    @property
    def max_total(self):
        return sum(maximum for _, maximum in self.scores.values())


def submissions(root: Path, assignment_id: str) -> list[str]:
    base = Path(root) / "submitted"
    return sorted(p.parent.name for p in base.glob(f"*/{assignment_id}") if p.is_dir())


def record_path(root: Path, assignment_id: str, student: str) -> Path:
    return Path(root) / "autograded" / student / assignment_id / RESULTS_FILE


def save(root: Path, outcome: Outcome):
    """Write the record atomically: a killed batch never leaves half a file behind."""
    path = record_path(root, outcome.assignment, outcome.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(outcome.to_record(), indent=1))
    partial.replace(path)


def load(root: Path, assignment_id: str) -> list[Outcome]:
    """Every saved outcome of one assignment, by student."""
    return [Outcome.from_record(json.loads(p.read_text()))
            for p in sorted(Path(root).glob(f"autograded/*/{assignment_id}/{RESULTS_FILE}"))]


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


def _timestamp(folder: Path):
    from nbgrader.utils import parse_utc
    try:
        return parse_utc((folder / "timestamp.txt").read_text().strip())
    except (OSError, ValueError, TypeError):
        return None


def store(root: Path, assignment: course.Assignment, student: str, folder: Path, graded,
          outcome: Outcome):
    """Into nbgrader's gradebook and autograded/ folder, as `nbgrader autograde` would."""
    import nbformat

    from .nbgrader_api import gradebook
    with gradebook(root) as gb:
        gb.update_or_create_student(student)
        stamp = _timestamp(folder)
        submission = (gb.update_or_create_submission(assignment.id, student, timestamp=stamp)
                      if stamp else gb.update_or_create_submission(assignment.id, student))
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name in outcome.scores:
                    grade.auto_score = outcome.scores[grade.name][0]
                    grade.needs_manual_grade = False
                elif graded.notebook is None:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
                else:
                    grade.needs_manual_grade = True
        gb.db.commit()
    dest = Path(root) / "autograded" / student / assignment.id
    dest.mkdir(parents=True, exist_ok=True)
    if graded.notebook is not None:
        for path in graded_files(folder, assignment):
            target = dest / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
        nbformat.write(nbformat.from_dict(graded.notebook), str(dest / assignment.notebook))


KEPT_FILE_BYTES = 20 * 2 ** 20


def graded_files(folder: Path, assignment) -> list[Path]:
    """The submitted files a worker ran with, for staff to read beside the autograded notebook:
    regular files (no link, no compiled code: grader.sandbox.session never runs them) but the
    notebook itself, each up to KEPT_FILE_BYTES."""
    from .sandbox.session import COMPILED, SKIPPED_NAMES
    found = []
    for path, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if d not in SKIPPED_NAMES]
        for name in files:
            file = Path(path) / name
            if (file.is_symlink() or not file.is_file() or name.endswith(COMPILED)
                    or file == folder / assignment.notebook
                    or file.stat().st_size > KEPT_FILE_BYTES):
                continue
            found.append(file)
    return sorted(found)


def failed_outcome(assignment, student, release_nb, error: BaseException) -> Outcome:
    """The record of a submission the grader itself failed on: zero, the reason, and a status
    that makes the next run grade it again."""
    why = f"{type(error).__name__}: {error}"[:500]
    return Outcome(student, assignment.id, f"error: the grader failed on this submission "
                   f"({why}); rerun to grade it again",
                   {c: (0.0, p) for c, p in notebooks.test_points(release_nb).items()}, {},
                   notebooks.manual_points(release_nb), [f"the grader failed: {why}"])


def outcome_of(assignment, student, graded, manual) -> Outcome:
    outcome = Outcome(student, assignment.id, "graded", dict(graded.scores),
                      {k: v for k, v in graded.public.items() if k in graded.scores},
                      dict(manual), list(graded.flags), list(graded.events),
                      hidden=dict(graded.hidden))
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


def default_jobs() -> int:
    """One submission computing per core (grader.sandbox.gate lends the core of one that waits)."""
    return os.cpu_count() or 1


def autograde(root: Path, assignment_ids=None, students=None, jobs=None, force=False,
              log=print, progress=True, budget=None, allow_weak=False,
              isolation=None) -> list[Outcome]:
    """Raises doctor.IsolationRefused (before anything is written) where the clean room would
    run without namespaces and `allow_weak` is not given. `isolation` forces a weaker mode than
    the machine's best (bench/isolation_bench.py compares them)."""
    from .sandbox.session import Zygote

    root = Path(root)
    assignments = ([course.get(a) for a in assignment_ids] if assignment_ids
                   else course.available())
    zygote = Zygote()       # first: its imports (numpy, scipy, ...) overlap nbgrader's below
    try:
        zygote.mode = isolation
        if doctor.check({**zygote.probed, "mode": zygote.isolation}, allow_weak) == "weak":
            log("WARNING: grading with weak isolation (no namespaces): every result says so")
        outcomes, todo = _todo(root, assignments, students, force)
        if outcomes:
            log(f"{len(outcomes)} submissions already graded (unchanged): skipped")
        failures = _grade_all(root, assignments, todo, zygote, jobs or default_jobs(),
                              budget, log, progress, outcomes)
    finally:
        zygote.close()
    outcomes.sort(key=lambda o: (o.assignment, o.student))
    if failures:
        raise GradingFailed(f"{failures} submissions could not be graded", outcomes)
    return outcomes


def _todo(root, assignments, students, force):
    """(outcomes of the submissions graded before and unchanged since, the rest to grade,
    biggest first)."""
    from .nbgrader_api import api_for, gradebook
    api_for(root)                           # PATH / kernels / config for nbgrader's API
    warnings.filterwarnings("ignore", message=".*not in session.*")
    with gradebook(root) as gb:
        known = {a.name for a in gb.assignments}
    outcomes, todo = [], []
    for assignment in assignments:
        if assignment.id not in known:
            raise SystemExit(f"{assignment.id} has not been released in {root}: "
                             f"run `grader release --course-dir {root}` first")
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
    todo.sort(key=lambda item: -expected_cost(item[0], item[2]))
    return outcomes, todo


def _grade_all(root, assignments, todo, zygote, jobs, budget, log, progress, outcomes):
    """Grade `todo` in parallel, storing each as it finishes; returns how many failed."""
    from threadpoolctl import threadpool_limits

    from .cleanroom import Budget, Graded, Grader
    from .sandbox.gate import CoreGate
    budget = budget or Budget()
    gate = CoreGate(jobs)
    failures = 0
    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), unit="submission", desc="grading", leave=False)
    releases = {a.id: notebooks.load(root / "release" / a.id / a.notebook) for a in assignments}

    def grade(assignment, folder):
        gate.acquire()
        try:
            started = time.perf_counter()
            graded = Grader(assignment, releases[assignment.id], zygote, budget,
                            course_root=root, gate=gate).grade(folder)
            return graded, time.perf_counter() - started
        finally:
            gate.release()

    try:
        # twice as many in flight as compute: room for those that wait (a sleeping cell)
        with threadpool_limits(1), ThreadPoolExecutor(max_workers=2 * jobs) as pool:
            futures = {pool.submit(grade, a, f): (a, s, f) for a, s, f in todo}
            for future in as_completed(futures):
                assignment, student, folder = futures[future]
                manual = notebooks.manual_points(releases[assignment.id])
                try:
                    graded, seconds = future.result()
                    outcome = outcome_of(assignment, student, graded, manual)
                    outcome.seconds, outcome.own_seconds = seconds, graded.own_seconds
                    outcome.fingerprint = fingerprint(folder)
                    outcome.isolation = zygote.isolation
                    store(root, assignment, student, folder, graded, outcome)
                except Exception as error:      # the grader's fault: this submission only
                    failures += 1
                    log(f"{assignment.id} {student}: the grader failed, recorded as an error "
                        f"(rerun to retry):\n{traceback.format_exc()}")
                    outcome = failed_outcome(assignment, student, releases[assignment.id], error)
                    outcome.isolation = zygote.isolation
                    try:
                        store(root, assignment, student, folder, Graded(None), outcome)
                    except Exception:           # noqa: BLE001  (the record still says why)
                        log(f"{assignment.id} {student}: not in the gradebook either")
                save(root, outcome)         # last: the record marks the submission done
                outcomes.append(outcome)
                if bar:
                    bar.update(1)
                log(f"{assignment.id} {student}: {outcome.total:g}/{outcome.max_total:g} "
                    f"({outcome.status}{'; FLAGGED' if outcome.flags else ''})")
    finally:
        if bar:
            bar.close()
    return failures


class GradingFailed(RuntimeError):
    def __init__(self, message, outcomes):
        super().__init__(message)
        self.outcomes = outcomes


def add_arguments(parser):
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--course-dir", type=Path, default=course.BUILD / "course")
    parser.add_argument("--student", action="append", help="only this student (repeatable)")
    parser.add_argument("--jobs", type=int,
                        help="submissions computing at once (default: the number of cores; "
                             "one that waits lends its core to the next)")
    parser.add_argument("--force", action="store_true",
                        help="regrade submissions that are already graded and unchanged")
    add_isolation_argument(parser)


def add_isolation_argument(parser):
    parser.add_argument(doctor.WEAK_FLAG, action="store_true",
                        help="where the machine allows no namespaces (see `grader doctor`), "
                             "grade anyway with rlimits and the audit hook only; every result "
                             "records it")


def run(args) -> int:
    started = time.perf_counter()
    try:
        outcomes = autograde(args.course_dir, args.assignments or None, args.student or None,
                             jobs=args.jobs, force=args.force, allow_weak=args.allow_weak_isolation)
        code = 0
    except doctor.IsolationRefused as error:
        print(f"grader autograde: {error}", file=sys.stderr)
        return 2
    except GradingFailed as error:
        outcomes, code = error.outcomes, 1
        print(f"grader autograde: {error}")
    print(table(outcomes))
    print(f"\n{len(outcomes)} submissions in {time.perf_counter() - started:.1f} s")
    return code


def table(outcomes: list[Outcome]) -> str:
    """One block per assignment: a row per check, a column per student, then the totals."""
    lines = []
    for assignment in dict.fromkeys(o.assignment for o in outcomes):
        rows = [o for o in outcomes if o.assignment == assignment]
        checks = list(dict.fromkeys(k for o in rows for k in o.scores))
        width = max([len(c) for c in checks] + [len("check"), len("TOTAL")])
        cols = [max(len(o.student), 7) for o in rows]
        lines.append(f"\n== {assignment} ==")
        lines.append("check".ljust(width) + "".join(f"  {o.student:>{w}}" for o, w in zip(rows, cols)))
        for check in checks:
            cells = []
            for o, w in zip(rows, cols):
                score, maximum = o.scores.get(check, (0.0, 0.0))
                cells.append(f"  {f'{score:g}/{maximum:g}':>{w}}")
            lines.append(check.ljust(width) + "".join(cells))
        lines.append("TOTAL".ljust(width) + "".join(
            f"  {f'{o.total:g}/{o.max_total:g}':>{w}}" for o, w in zip(rows, cols)))
        for o in rows:
            if o.status != "graded":
                lines.append(f"  {o.student}: {o.status}")
            for event in o.events[:3]:
                lines.append(f"  {o.student}: {event[:300]}")
            for flag in o.flags:
                lines.append(f"  {o.student}: FLAG {flag[:300]}")
            failed = list(o.messages.items())
            for check, message in failed[:6]:
                lines.append(f"  {o.student} / {check}: {message.splitlines()[0][:300]}")
            if len(failed) > 6:
                lines.append(f"  {o.student}: ... and {len(failed) - 6} more failed checks")
    return "\n".join(lines)
