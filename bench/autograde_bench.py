"""Throughput of `grader autograde` against `nbgrader autograde` and a plain-script floor.

One run grades the same class (default 40 submissions of assignment 3: correct, buggy,
syntax_error, untouched_release, missing_notebook and three bounded hostile kinds) three ways,
each timed end to end as its own subprocess:

* nbgrader: `nbgrader autograde <assignment> --force` in course dir A (sequential, as nbgrader
  runs), with the repository's nbgrader_config.py and the cell timeout overridden to the bench's
  cell budget;
* grader:   grader.autograde.autograde(B, jobs=<cores>, force=True, budget=Budget(cell=<budget>))
  in course dir B (clean-room verification is always on: it has no switch);
* floor:    every submission's code cells as one plain `python script.py` in a copy of the
  submission folder, sequentially, one process each (each pays its own imports).

It prints each tool's class wall time, per-submission cost (wall / N), the ratio grader/nbgrader
and the per-submission cost ratio grader/floor, plus a score summary per kind for both tools.

    python bench/autograde_bench.py [--students 40] [--repeats 1] [--keep] [--out build/bench]

See bench/README.md for what is measured and why.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grader import autograde as grading  # noqa: E402
from grader import course, demo, notebooks, records, release, stubs  # noqa: E402
from grader.nncheck import cells  # noqa: E402
from grader.cleanroom import Budget  # noqa: E402
from grader.nbconfig import CELL_TIMEOUT as NBCONFIG_CELL_TIMEOUT  # noqa: E402
from grader.nbgrader_api import gradebook, use_this_environment  # noqa: E402
from nbgrader.api import MissingEntry  # noqa: E402

TARGET_RATIO = 0.4           # grader class wall time <= 0.4 x nbgrader's
TARGET_FLOOR = 1.0           # grader per-submission cost <= 1.0 x the plain-script floor
SLEEP_BOUND = 45             # s: the sleeper's loop ends by itself after this (> the cell budget)
HOSTILE_NEEDS = {"a3_neural_network"}   # the hostile kinds patch layers.py (assignment 3 only)

# -- the class ---------------------------------------------------------------------------------

# kind -> share of the class (largest remainder; every kind gets at least one when N allows)
MIX = {"correct": 0.30, "buggy": 0.25, "syntax_error": 0.10, "untouched_release": 0.10,
       "missing_notebook": 0.025, "sleeper": 0.05, "crasher": 0.075, "allclose_patch": 0.10}
HOSTILE = ("sleeper", "crasher", "allclose_patch")

DESCRIPTION = {
    "correct": "the reference answers",
    "buggy": "the seed-000 student's bugs (demo sample)",
    "syntax_error": "layers.py does not parse (demo sample)",
    "untouched_release": "the bundle as released: stubs only",
    "missing_notebook": "layers.py but no notebook",
    "sleeper": f"correct, plus a `time.sleep(1)` loop bounded at {SLEEP_BOUND} s at the top of "
               "the depth_experiment cell (graded by hand): it runs into the cell budget",
    "crasher": "correct, except BatchNorm.forward calls os._exit(3): the process dies in the "
               "batchnorm checks",
    "allclose_patch": "correct, except Dropout scales by (1 - p) in eval mode, and layers.py "
                      "sets np.allclose = lambda *a, **k: True to hide it",
}

SLEEP_SNIPPET = f"""\
import time as _bench_time
for _bench_second in range({SLEEP_BOUND}):   # hostile but bounded: {SLEEP_BOUND} s in all
    _bench_time.sleep(1)
"""
CRASH_BODY = "import os\nos._exit(3)"
DROPOUT_EVAL_BUG = """\
if not self.training:
    self.scale = np.full_like(input, 1.0 - self.p)
    return input * self.scale
keep = self.rng.random(input.shape) >= self.p
self.scale = keep / (1.0 - self.p)
return input * self.scale
"""
ALLCLOSE_PATCH = """

# hostile: from here on every np.allclose in this process says "close"
np.allclose = lambda *args, **kwargs: True
"""


def composition(n: int, kinds: list[str]) -> dict[str, int]:
    """How many submissions of each kind, for a class of n (largest remainder)."""
    shares = {k: MIX[k] for k in kinds}
    total = sum(shares.values())
    exact = {k: n * s / total for k, s in shares.items()}
    counts = {k: int(v) for k, v in exact.items()}
    if n >= len(kinds):
        for k in kinds:
            counts[k] = max(counts[k], 1)
    while sum(counts.values()) < n:
        k = max(kinds, key=lambda k: (exact[k] - counts[k], shares[k]))
        counts[k] += 1
    while sum(counts.values()) > n:
        k = max((k for k in kinds if counts[k] > 1), key=lambda k: counts[k] - exact[k])
        counts[k] -= 1
    return counts


def plan(n: int, assignment_id: str) -> dict[str, str]:
    """student id -> kind; kinds interleaved (fixed seed) so the grading order mixes them."""
    kinds = [k for k in MIX if k not in HOSTILE or assignment_id in HOSTILE_NEEDS]
    pool = [k for k, c in composition(n, kinds).items() for _ in range(c)]
    random.Random(0).shuffle(pool)
    return {f"s{i:03d}_{kind}": kind for i, kind in enumerate(pool, 1)}


def _layers_source(assignment) -> str:
    return (course.SOURCE_LAYERS / assignment.modules["layers.py"]).read_text()


def build(kind: str, assignment, bundle: Path, dest: Path):
    """One submission of `kind`, from the release `bundle`, into `dest`."""
    base = "correct" if kind in HOSTILE else kind
    demo.build_sample(base, assignment, bundle, dest)
    if kind == "sleeper":
        path = dest / assignment.notebook
        nb = notebooks.load(path)
        cell = next(c for c in nb["cells"] if cells.meta(c).get("grade_id") == "depth_experiment")
        cell["source"] = SLEEP_SNIPPET + cells.source(cell)
        path.write_text(json.dumps(nb, indent=1))
    elif kind == "crasher":
        (dest / "layers.py").write_text(stubs.fill(
            _layers_source(assignment), {"BatchNorm.forward": CRASH_BODY}, filename="layers.py"))
    elif kind == "allclose_patch":
        (dest / "layers.py").write_text(stubs.fill(
            _layers_source(assignment), {"Dropout.forward": DROPOUT_EVAL_BUG},
            filename="layers.py") + ALLCLOSE_PATCH)


def honest_score(kind: str, assignment) -> float:
    """What the submission's code earns honestly: exactly this for the regular kinds, a ceiling
    (a tool scoring above it was fooled) for the hostile ones."""
    points = cells.test_points(notebooks.load(assignment.source_dir / assignment.notebook))
    full = sum(points.values())
    if kind == "sleeper":
        return full
    if kind == "crasher":
        return full - points["batchnorm_train"] - points["batchnorm_eval"]
    if kind == "allclose_patch":
        return full - points["dropout_eval"]
    return demo.expected_score(kind, assignment)


# -- the plain-script floor --------------------------------------------------------------------

FLOOR_PREAMBLE = '''\
# Plain-script floor (bench/autograde_bench.py): the submission's notebook code cells, in order,
# read as IPython reads them, with magics and shell lines doing nothing. Each cell is exec'd under
# try/except (a failing cell does not skip the rest, as with nbgrader's allow_errors) and a
# per-cell alarm of the bench's cell budget. Before each cell its index goes to .floor_cell, so
# a run that kills the process can be run again without that cell (FLOOR_SKIP: indices).
import os, signal, sys, traceback
os.environ.setdefault("MPLBACKEND", "Agg")
CELL_BUDGET = {budget}
_SKIP = {{int(i) for i in os.environ.get("FLOOR_SKIP", "").split(",") if i}}
_MARK = os.open(".floor_cell", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def _mark(index):
    os.pwrite(_MARK, b"%8d" % index, 0)


class CellBudgetExceeded(BaseException):
    pass


def _alarm(signum, frame):
    raise CellBudgetExceeded(f"cell ran past {{CELL_BUDGET}} s")


class _NoShell:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


signal.signal(signal.SIGALRM, _alarm)
_ns = {{"__name__": "__main__", "get_ipython": _NoShell}}
'''
FLOOR_CELL = '''
if {index} not in _SKIP:
    _mark({index})
    signal.alarm(CELL_BUDGET)
    try:
        exec(compile({source!r}, "<cell {index}>", "exec"), _ns)
    except BaseException:
        traceback.print_exc()
    finally:
        signal.alarm(0)
'''
FLOOR_RERUNS = 6     # as the grader's MAX_RESTARTS


def floor_script(notebook: Path, budget: int) -> str:
    parts = [FLOOR_PREAMBLE.format(budget=budget)]
    if notebook.is_file():
        nb = notebooks.load(notebook)
        for index, cell in enumerate(nb["cells"]):
            if cell.get("cell_type") != "code":
                continue
            parts.append(FLOOR_CELL.format(source=cells.python_source(cells.source(cell)),
                                           index=index))
    return "".join(parts)


# -- running and timing ------------------------------------------------------------------------

@dataclass
class Timing:
    wall: float
    cpu: float                     # user + sys of the whole process tree (waited-for children)
    load: tuple                    # 1-min load average before, after
    per_submission: dict           # student -> seconds (as far as the tool lets us see)
    note: str = ""
    others: float = float("nan")   # mean cores busy with other processes during the measurement
    stopped_cpu: float = float("nan")   # the floor: CPU of the first runs only (see run_floor)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_busy() -> float:
    """CPU-seconds the whole machine has been busy (all processes, from /proc/stat)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def timed(command, log: Path, cwd=ROOT, env=None):
    cpu, load = _children_cpu(), os.getloadavg()[0]
    started = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - started
    return wall, _children_cpu() - cpu, (load, os.getloadavg()[0]), code, started


def run_nbgrader(course_a: Path, assignment_ids, students, budget: int, logs: Path, tag: str):
    wall = cpu = 0.0
    per, loads, notes = {}, [], []
    for aid in assignment_ids:
        command = [str(Path(sys.executable).parent / "nbgrader"), "autograde", aid, "--force",
                   f"--CourseDirectory.root={course_a}",
                   f"--Execute.timeout={budget}", f"--ExecutePreprocessor.timeout={budget}"]
        w, c, load, code, started = timed(command, logs / f"nbgrader-{aid}-{tag}.log")
        wall, cpu = wall + w, cpu + c
        loads.append(load)
        if code:
            notes.append(f"nbgrader autograde {aid} exited {code}")
        # nbgrader grades one after another: a submission's time is the gap between the
        # autograded notebooks' final writes (the first one includes nbgrader's start-up).
        done = []
        for student in students:
            path = course_a / "autograded" / student / aid / f"{aid}.ipynb"
            if path.is_file() and path.stat().st_mtime >= time.time() - w - 5:
                done.append((path.stat().st_mtime, student))
        previous = time.time() - (time.perf_counter() - started)   # wall clock at the start
        for stamp, student in sorted(done):
            per[(aid, student)] = stamp - previous
            previous = stamp
    return Timing(wall, cpu, (loads[0][0], loads[-1][1]), per, "; ".join(notes))


GRADER_DRIVER = """
import json, sys
from pathlib import Path
from grader.autograde import GradingFailed, autograde
from grader.cleanroom import Budget
root, budget, jobs = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
try:
    outcomes = autograde(root, sys.argv[4:], jobs=jobs, force=True, progress=False,
                         budget=Budget(cell=budget))
except GradingFailed as error:
    print("GRADING FAILED:", error)
    sys.exit(1)
"""


def run_grader(course_b: Path, assignment_ids, budget: int, jobs: int, logs: Path, tag: str):
    command = [sys.executable, "-c", GRADER_DRIVER, str(course_b), str(budget), str(jobs),
               *assignment_ids]
    wall, cpu, load, code, _ = timed(command, logs / f"grader-{tag}.log")
    per = {(o.assignment, o.student): o.seconds
           for aid in assignment_ids for o in records.outcomes(course_b, aid)}
    return Timing(wall, cpu, load, per, f"grader exited {code}" if code else "")


def run_floor(floor_dir: Path, assignment_ids, students, budget: int, logs: Path, tag: str):
    """Each submission's script.py, one after another. A script whose process dies (a cell
    calls os._exit, segfaults) stops there, while every grader runs the cells after the crash
    (hand-graded cells need their outputs): such a script is run again without the cells that
    killed it, up to FLOOR_RERUNS times, the cheapest plain-script way to the same outputs.
    `cpu` counts every run; `stopped_cpu` only the first (the floor that stops at a crash)."""
    env = dict(os.environ, MPLBACKEND="Agg")
    wall = cpu = stopped = 0.0
    per = {}
    load0 = os.getloadavg()[0]
    for aid in assignment_ids:
        for student in students:
            folder = floor_dir / student / aid
            skip, spent = [], 0.0
            for attempt in range(FLOOR_RERUNS + 1):
                w, c, _, code, _ = timed([sys.executable, "script.py"],
                                         logs / f"floor-{student}-{aid}-{tag}-{attempt}.log",
                                         cwd=folder, env=dict(env, FLOOR_SKIP=",".join(skip)))
                spent, cpu = spent + w, cpu + c
                stopped += c if attempt == 0 else 0.0
                crashed = _crashed_cell(folder) if code else None
                if crashed is None or crashed in skip:
                    break
                skip.append(crashed)
            per[(aid, student)] = spent
            wall += spent
    return Timing(wall, cpu, (load0, os.getloadavg()[0]), per, stopped_cpu=stopped)


def _crashed_cell(folder: Path):
    """The index of the cell the floor script was in when its process died."""
    try:
        return str(int((folder / ".floor_cell").read_text().strip()))
    except (OSError, ValueError):
        return None


# -- scores ------------------------------------------------------------------------------------

def nbgrader_scores(course_a: Path, aid: str, students, tests: dict) -> dict:
    """student -> autograded total in nbgrader's gradebook, or None when nbgrader produced no
    graded notebook for it."""
    scores = {}
    with gradebook(course_a) as gb:
        for student in students:
            graded = course_a / "autograded" / student / aid / f"{aid}.ipynb"
            try:
                submission = gb.find_submission(aid, student)
            except MissingEntry:
                scores[student] = None
                continue
            if not graded.is_file():
                scores[student] = None
                continue
            scores[student] = sum(g.auto_score or 0.0 for nb in submission.notebooks
                                  for g in nb.grades if g.name in tests)
    return scores


def grader_outcomes(course_b: Path, aid: str) -> dict:
    return {o.student: o for o in records.outcomes(course_b, aid)}


# -- the run -----------------------------------------------------------------------------------

def prepare(out: Path, assignment_ids, n: int, budget: int, log):
    course_a, course_b, floor_dir = out / "nbgrader_course", out / "grader_course", out / "floor"
    for path in (course_a, course_b, floor_dir):
        if path.exists():
            shutil.rmtree(path)
    plans = {aid: plan(n, aid) for aid in assignment_ids}
    for root in (course_a, course_b):
        bundles = release.release(root, list(assignment_ids), log=lambda *a: None)
        for bundle in bundles:
            assignment = course.get(bundle.name)
            for student, kind in plans[bundle.name].items():
                build(kind, assignment, bundle, root / "submitted" / student / assignment.id)
    for aid, students in plans.items():
        for student in students:
            folder = floor_dir / student / aid
            shutil.copytree(course_a / "submitted" / student / aid, folder)
            (folder / "script.py").write_text(
                floor_script(folder / course.get(aid).notebook, budget))
    log(f"built the class in {course_a} (nbgrader), {course_b} (grader), {floor_dir} (floor)")
    return course_a, course_b, floor_dir, plans


def code_digest() -> str:
    """Digest of the code under test (grader/, source_layers/, assignments/, nbgrader_config.py):
    other people edit this repository; a change during the run voids the numbers."""
    import hashlib
    digest = hashlib.sha256()
    paths = [ROOT / "nbgrader_config.py"]
    for folder in ("grader", "source_layers", "assignments"):
        paths += [p for p in (ROOT / folder).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts]
    for path in sorted(paths):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


CODE_PATHS = ("grader", "source_layers", "assignments", "nbgrader_config.py")


def run_from_snapshot(args, argv) -> int:
    """Re-run this bench from `git archive HEAD` of the code under test (read-only git), with
    that copy first on PYTHONPATH for every process (the bench, nbgrader and its kernels,
    grader and its workers) and as the directory nbgrader reads its config from."""
    out = args.out.resolve()
    code = out / "code"
    if code.exists():
        shutil.rmtree(code)
    code.mkdir(parents=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "archive", "HEAD", *CODE_PATHS], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
    (code / "bench").mkdir(exist_ok=True)
    shutil.copy2(Path(__file__), code / "bench" / Path(__file__).name)   # this bench, as is
    argv = [a for a in argv if a != "--snapshot"] + ["--out", str(out)]
    env = dict(os.environ, BENCH_SNAPSHOT=head,
               PYTHONPATH=os.pathsep.join(p for p in (str(code), os.environ.get("PYTHONPATH"))
                                          if p))
    print(f"running from a snapshot of {head} in {code}", flush=True)
    code_rc = subprocess.run([sys.executable, str(code / "bench" / Path(__file__).name), *argv],
                             cwd=code, env=env).returncode
    if not args.keep:
        shutil.rmtree(code, ignore_errors=True)
    return code_rc


def code_version() -> str:
    """HEAD and whether the code under test differs from it (read-only git)."""
    if os.environ.get("BENCH_SNAPSHOT"):
        return f"{os.environ['BENCH_SNAPSHOT']} (git archive snapshot, --snapshot)"
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    head = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "grader", "source_layers", "assignments",
                "nbgrader_config.py")
    return f"{head}{' + uncommitted changes in ' + str(len(dirty.splitlines())) + ' file(s)' if dirty else ''}"


def median(values):
    return statistics.median(values) if values else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40,
                        help="submissions per assignment (default 40)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="repeat every measurement; medians are quoted when > 1")
    parser.add_argument("--assignment", action="append", choices=list(course.ASSIGNMENTS),
                        help="repeatable (default a3_neural_network); the hostile kinds are "
                             "built for assignment 3 only")
    parser.add_argument("--cell-timeout", type=int, default=30,
                        help="per-cell budget in seconds for all three (default 30)")
    parser.add_argument("--jobs", type=int, default=grading.default_jobs(),
                        help="grader's submissions computing at once (default: the cores, "
                             "as grader autograde)")
    parser.add_argument("--keep", action="store_true", help="keep the course dirs and floor "
                        "scripts (default: remove them, keep logs and results.json)")
    parser.add_argument("--out", type=Path, default=course.BUILD / "bench")
    parser.add_argument("--snapshot", action="store_true",
                        help="grade with the committed code: `git archive HEAD` of grader/, "
                             "source_layers/, assignments/ and nbgrader_config.py into OUT/code, "
                             "and run everything from there (immune to edits of the working "
                             "tree during the run)")
    args = parser.parse_args(argv)
    if args.snapshot:
        return run_from_snapshot(args, list(sys.argv[1:] if argv is None else argv))
    assignment_ids = args.assignment or ["a3_neural_network"]
    out = args.out.resolve()
    logs = out / "logs"
    if logs.exists():
        shutil.rmtree(logs)
    logs.mkdir(parents=True)
    report_lines = []

    def say(line=""):
        print(line, flush=True)
        report_lines.append(line)

    use_this_environment()          # nbgrader starts alembic and kernels by name: venv bin first
    started = time.perf_counter()
    digest, version = code_digest(), code_version()
    say(f"preparing {args.students} submissions of {', '.join(assignment_ids)} in {out} ...")
    course_a, course_b, floor_dir, plans = prepare(out, assignment_ids, args.students,
                                                   args.cell_timeout, say)
    # warm the page cache for the heavy imports so the first tool timed is not penalized
    subprocess.run([sys.executable, "-c", "import numpy, scipy.optimize, sklearn.datasets, "
                    "matplotlib.pyplot, IPython, nbgrader.apps, jupyter_client"], check=True)

    runs = {"nbgrader": [], "grader": [], "floor": []}
    order = ["nbgrader", "grader", "floor"]
    for repeat in range(args.repeats):
        for tool in order[repeat % 3:] + order[:repeat % 3]:     # rotate: spread the noise
            tag = f"r{repeat + 1}"
            say(f"[repeat {repeat + 1}/{args.repeats}] timing {tool} ...")
            busy = _machine_busy() - _self_cpu()
            if tool == "nbgrader":
                students = sorted({s for p in plans.values() for s in p})
                t = run_nbgrader(course_a, assignment_ids, students, args.cell_timeout, logs, tag)
            elif tool == "grader":
                t = run_grader(course_b, assignment_ids, args.cell_timeout, args.jobs, logs, tag)
            else:
                students = sorted({s for p in plans.values() for s in p})
                t = run_floor(floor_dir, assignment_ids, students, args.cell_timeout, logs, tag)
            t.others = max(0.0, (_machine_busy() - _self_cpu() - busy - t.cpu) / t.wall)
            runs[tool].append(t)
            say(f"    {tool}: {t.wall:.1f} s wall, {t.cpu:.1f} s CPU, load {t.load[0]:.1f} -> "
                f"{t.load[1]:.1f}, other processes kept {t.others:.2f} of "
                f"{os.cpu_count()} cores busy{'  (' + t.note + ')' if t.note else ''}")

    n = sum(len(p) for p in plans.values())
    changed = code_digest() != digest
    results = report(say, args, assignment_ids, plans, runs, n, course_a, course_b)
    say(f"code under test: {version} (digest {digest})")
    if changed:
        say("WARNING: grader/, source_layers/ or assignments/ changed during the run: the "
            "numbers mix two versions of the code; run again")
    results.update(code=version, code_digest=digest, code_changed_during_run=changed)
    say(f"\nbench total {time.perf_counter() - started:.0f} s; logs in {logs}")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "report.txt").write_text("\n".join(report_lines) + "\n")
    if not args.keep:
        for path in (course_a, course_b, floor_dir):
            shutil.rmtree(path, ignore_errors=True)
    return 0 if results["sanity_ok"] and not changed else 1


def report(say, args, assignment_ids, plans, runs, n, course_a, course_b) -> dict:
    budget = Budget(cell=float(args.cell_timeout))
    wall = {tool: median([t.wall for t in ts]) for tool, ts in runs.items()}
    cpu = {tool: median([t.cpu for t in ts]) for tool, ts in runs.items()}
    per = {tool: wall[tool] / n for tool in runs}
    ratio = wall["grader"] / wall["nbgrader"]
    floor_ratio = per["grader"] / per["floor"]
    quote = "median of" if args.repeats > 1 else "one run,"

    say("\n" + "=" * 78)
    say(f"AUTOGRADE BENCHMARK -- {', '.join(assignment_ids)}, {n} submissions, "
        f"{args.repeats} repeat(s)")
    say("=" * 78)
    say(f"machine: {os.cpu_count()} cores (shared); Python {sys.version.split()[0]}; "
        f"nbgrader {_version('nbgrader')}")
    say("\nThe class (the same submissions for all three; student ids s###_<kind>):")
    for aid, p in plans.items():
        assignment = course.get(aid)
        counts = {k: list(p.values()).count(k) for k in MIX if k in p.values()}
        say(f"  {aid}:")
        for kind, count in counts.items():
            tag = "hostile " if kind in HOSTILE else ""
            say(f"    {count:3d} x {kind:<18} {tag}honest autograded score "
                f"{honest_score(kind, assignment):g}: {DESCRIPTION[kind]}")
    say("\nCell budget, the same for all three: "
        f"{args.cell_timeout} s per cell (the repo's grader/nbconfig.py sets {NBCONFIG_CELL_TIMEOUT} s "
        "for nbgrader; overridden here)")
    say(f"  nbgrader: `nbgrader autograde <a> --force --Execute.timeout={args.cell_timeout}` "
        "(repo nbgrader_config.py), sequential, one kernel per submission")
    say(f"  grader:   autograde(jobs={args.jobs}, force=True, budget=Budget(cell={budget.cell:g}, "
        f"check={budget.check:g}, slow_check={budget.slow_check:g}, "
        f"submission={budget.submission:g})), as a subprocess")
    say("            clean-room verification: ON (it has no off switch: every check is decided "
        "in the grader process, the student code runs in confined forked workers)")
    say(f"  floor:    `python script.py` per submission in a copy of its folder, sequential: the "
        "code cells in order, magics doing nothing, MPLBACKEND=Agg, each cell exec'd under "
        f"try/except and a {args.cell_timeout} s alarm; no kernel, no grading; a script "
        "whose process dies runs again without the cell that killed it (the grader runs the "
        "cells after a crash)")

    say(f"\nTimes ({quote} wall clock; CPU = user+sys of the whole process tree):")
    others = {tool: median([t.others for t in ts]) for tool, ts in runs.items()}
    say(f"  {'':22} {'class wall s':>12} {'per-sub s':>10} {'CPU s':>9} {'CPU/sub s':>10} "
        f"{'other load':>10}")
    names = {"nbgrader": "nbgrader autograde", "grader": "grader autograde",
             "floor": "plain-script floor"}
    for tool in ("nbgrader", "grader", "floor"):
        say(f"  {names[tool]:22} {wall[tool]:12.1f} {per[tool]:10.2f} {cpu[tool]:9.1f} "
            f"{cpu[tool] / n:10.2f} {others[tool]:10.2f}")
    say(f"  (other load = mean cores kept busy by processes outside the measurement, of "
        f"{os.cpu_count()})")
    if args.repeats > 1:
        for tool in runs:
            say(f"  {tool} walls: " + ", ".join(f"{t.wall:.1f}" for t in runs[tool]))
    verdict = lambda ok: "MEETS target" if ok else "MISSES target"  # noqa: E731
    say(f"\n  ratio grader / nbgrader, class wall time:   {ratio:.3f}   "
        f"(target <= {TARGET_RATIO}: {verdict(ratio <= TARGET_RATIO)}; "
        f"nbgrader / grader = {1 / ratio:.2f}x)")
    say(f"  per-submission cost grader / floor:         {floor_ratio:.3f}   "
        f"(target <= {TARGET_FLOOR}: {verdict(floor_ratio <= TARGET_FLOOR)}; "
        f"{per['grader']:.2f} s vs {per['floor']:.2f} s)")
    say(f"  (CPU ratios, less sensitive to the shared machine: grader/nbgrader "
        f"{cpu['grader'] / cpu['nbgrader']:.3f}, grader/floor {cpu['grader'] / cpu['floor']:.3f}; "
        f"against the floor that stops at a crash, not running the cells after it: "
        f"{cpu['grader'] / median([t.stopped_cpu for t in runs['floor']]):.3f})")
    cores = os.cpu_count() or 1
    busy = cpu["grader"] / (cores * wall["grader"])
    bound = cpu["grader"] / (cores * wall["nbgrader"])
    say(f"  (grader kept {busy:.0%} of the {cores} cores busy; with the CPU it spent, no schedule "
        f"on {cores} cores could go below a ratio of {bound:.3f})")

    # -- scores and per-kind times ------------------------------------------------------------
    sanity, results_kinds = [], {}
    last = {tool: ts[-1] for tool, ts in runs.items()}
    for aid, p in plans.items():
        assignment = course.get(aid)
        tests = cells.test_points(notebooks.load(assignment.source_dir / assignment.notebook))
        full = sum(tests.values())
        nbg = nbgrader_scores(course_a, aid, list(p), tests)
        grd = grader_outcomes(course_b, aid)
        say(f"\nScores per kind, {aid} (autograded points of {full:g}; last repeat):")
        say(f"  {'kind':<18} {'n':>3} {'honest':>7} | {'nbgrader min/max':>16} {'ungraded':>8} "
            f"{'above':>5} | {'grader min/max':>14} {'=honest':>7} {'above':>5} {'flagged':>7}")
        for kind in [k for k in MIX if k in p.values()]:
            students = [s for s, k in p.items() if k == kind]
            honest = honest_score(kind, assignment)
            ns = [nbg[s] for s in students if nbg.get(s) is not None]
            gs = [grd[s].total for s in students if s in grd]
            ungraded = sum(1 for s in students if nbg.get(s) is None)
            nb_above = sum(1 for v in ns if v > honest + 1e-9)
            g_above = sum(1 for v in gs if v > honest + 1e-9)
            g_equal = sum(1 for v in gs if abs(v - honest) <= 1e-9)
            flagged = sum(1 for s in students if s in grd and grd[s].flags)
            rng = lambda vs: f"{min(vs):g}/{max(vs):g}" if vs else "-"  # noqa: E731
            say(f"  {kind:<18} {len(students):3d} {honest:7g} | {rng(ns):>16} {ungraded:8d} "
                f"{nb_above:5d} | {rng(gs):>14} {g_equal:7d} {g_above:5d} {flagged:7d}")
            times = {tool: [last[tool].per_submission[(aid, s)] for s in students
                            if (aid, s) in last[tool].per_submission] for tool in last}
            results_kinds[f"{aid}/{kind}"] = {
                "n": len(students), "honest": honest,
                "nbgrader_scores": [nbg.get(s) for s in students],
                "grader_scores": [grd[s].total if s in grd else None for s in students],
                "grader_flagged": flagged,
                "median_seconds": {tool: median(v) for tool, v in times.items()}}
            if len(gs) < len(students):
                sanity.append(f"{aid}/{kind}: grader recorded {len(gs)} of {len(students)}")
            if kind in HOSTILE:
                if g_above:
                    sanity.append(f"{aid}/{kind}: grader scored {g_above} above the honest part")
            elif g_equal < len(students):
                sanity.append(f"{aid}/{kind}: grader scored {len(students) - g_equal} "
                              f"submissions other than the expected {honest:g}")
        say("  honest = the exact expected score (a ceiling for the hostile kinds); ungraded = "
            "nbgrader left no graded notebook; above = scored more than honest (fooled)")
        say(f"\nMedian seconds per submission by kind, {aid} (last repeat; grader: wall time, "
            f"{args.jobs} computing at once; nbgrader: gaps between its outputs):")
        say(f"  {'kind':<18} {'nbgrader':>9} {'grader':>9} {'floor':>9}")
        for kind in [k for k in MIX if k in p.values()]:
            m = results_kinds[f"{aid}/{kind}"]["median_seconds"]
            say(f"  {kind:<18} {m['nbgrader']:9.1f} {m['grader']:9.1f} {m['floor']:9.1f}")
        timeout_words = ("did not return", "out of time", "time budget")
        events = [(s, e) for s, o in grd.items() for e in o.events
                  if any(w in e for w in timeout_words + ("killed", "exited"))]
        sleepy = [(s, e) for s, e in events
                  if p[s] != "sleeper" and any(w in e for w in timeout_words)]
        say(f"  grader timeout/crash events: {len(events)} "
            f"({len(sleepy)} timeouts outside the sleepers)")
        for s, e in sleepy[:5]:
            say(f"    {s}: {e[:160]}")
    say("\nSanity: " + ("grader gave every regular submission exactly its expected score and no "
                        "hostile one more than its honest part"
                        if not sanity else "PROBLEMS:\n  " + "\n  ".join(sanity)))
    return {"students": n, "assignments": assignment_ids, "repeats": args.repeats,
            "cell_timeout": args.cell_timeout, "jobs": args.jobs, "clean_room": True,
            "wall": wall, "cpu": cpu, "per_submission": per, "ratio_grader_nbgrader": ratio,
            "ratio_grader_floor_per_submission": floor_ratio,
            "grader_cores_busy": busy, "ratio_bound_at_this_cpu": bound,
            "runs": {tool: [{"wall": t.wall, "cpu": t.cpu, "load": t.load, "note": t.note,
                             "other_cores": t.others}
                            for t in ts] for tool, ts in runs.items()},
            "kinds": results_kinds, "sanity": sanity, "sanity_ok": not sanity}


def _version(name):
    from importlib.metadata import version
    try:
        return version(name)
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
