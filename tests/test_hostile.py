"""The hostile-submission corpus (tests/hostile/cases.py), graded in one batch.

One session fixture releases the assignments into a course directory, builds every case's
submission under submitted/<case>/<assignment>/ and runs grader.autograde.autograde once over
all of them with a tight Budget and two jobs. Then, per case: the exact total and the reason.
Across the corpus: every honest classmate gets full marks and a gradebook row, nothing inflates
above the honest sample, no submission costs more than its budget, no student process outlives
the batch, student output stays out of the grader's stderr, the secrets stay invisible, and no
student HTML runs in formgrader. Separately: a batch killed with SIGKILL resumes without
grading anything twice, and the budget bounds a submission whose cells are slow.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader import autograde as grading, course, records, release, stubs
from grader.nncheck import cells
from grader.cleanroom import Budget
from grader.nbgrader_api import gradebook
from tests.hostile.build import Submission, build_base
from tests.hostile.cases import (A1, A2, A3, BY_NAME, CASES, budget_for_tests, build_case,
                                 full, notebook_text, outcome_text)
from tests.hostile.leftovers import _read, clean, kill, stray_processes
from tests.test_report import chromium, needs_chromium

pytestmark = pytest.mark.slow

JOBS = 2
#: A submission may overrun its budget by the check that was running (at most the budget's
#: slow check and the grace) and one reload.
SUBMISSION_SLACK = 20.0
STDERR_LIMIT = 100_000          # bytes the grader itself may write to stderr in the batch
REPO = course.ROOT
#: HOSTILE_CASES=name,name grades only those cases (to work on one); the tests across the corpus
#: then skip. Unset (as in CI): all of them.
SELECTED = set(filter(None, os.environ.get("HOSTILE_CASES", "").split(","))) or set(BY_NAME)
assert SELECTED <= set(BY_NAME), f"unknown HOSTILE_CASES: {sorted(SELECTED - set(BY_NAME))}"


# ---------------------------------------------------------------------------------------------
# where the corpus runs

@contextlib.contextmanager
def _stderr_into(file):
    """File descriptor 2 (inherited by the fork server and its workers) goes to `file`."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


#: Where the course directories go: where an instructor's course lives (not /tmp, which the
#: workers no longer share), readable by others as a course shared with TAs usually is.
COURSE_PARENT = os.environ.get("HOSTILE_COURSE_PARENT", "/srv")


def _course_dir() -> Path:
    """A fresh course base directory; its name is the run's token (Submission.token)."""
    parent = COURSE_PARENT if os.access(COURSE_PARENT, os.W_OK) else tempfile.gettempdir()
    base = Path(tempfile.mkdtemp(prefix="hostile-", dir=parent))
    base.chmod(0o755)
    return base


# ---------------------------------------------------------------------------------------------
# the corpus, graded once

@dataclass
class Corpus:
    root: Path
    outcomes: dict              # case name -> Outcome
    seconds: float
    stderr_bytes: int
    stderr_head: bytes
    strays: dict                # pid -> (uid, cmdline) alive after the batch, started by it
    log: list


@pytest.fixture(scope="session")
def corpus():
    base = _course_dir()
    root = base / "course"
    release.release(root, log=lambda *args: None)
    for case in CASES:
        if case.name in SELECTED:
            build_case(case, root)
    log = []
    stdout = sys.stdout         # restored below: see test_parallel_checks_keep_the_graders_stdout
    with tempfile.TemporaryFile() as err:
        with _stderr_into(err):
            started = time.perf_counter()
            try:
                outcomes = grading.autograde(root, jobs=JOBS, progress=False,
                                             budget=budget_for_tests(), log=log.append)
            except grading.GradingFailed as error:
                outcomes = error.outcomes
                log.append(str(error))
            seconds = time.perf_counter() - started
            sys.stdout = stdout
        size = err.seek(0, os.SEEK_END)
        err.seek(0)
        head = err.read(300)
    strays = stray_processes(base.name)
    try:
        yield Corpus(root, {o.student: o for o in outcomes}, seconds, size, head, strays, log)
    finally:
        clean(base.name)
        shutil.rmtree(base, ignore_errors=True)


def _graded(corpus, case):
    if case.name not in SELECTED:
        pytest.skip(f"{case.name} is not in HOSTILE_CASES")
    outcome = corpus.outcomes.get(case.name)
    assert outcome is not None, f"{case.name} was not graded:\n" + "\n".join(corpus.log[-20:])
    return outcome


# ---------------------------------------------------------------------------------------------
# per case

@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_score(corpus, case):
    outcome = _graded(corpus, case)
    assert outcome.max_total == full(case.assignment), "the points on offer were changed"
    assert outcome.total == case.total, (
        f"{case.name}: {outcome.total:g} instead of {case.total:g} ({case.why}); "
        f"lost: {sorted(outcome.messages)}; events: {outcome.events[:4]}")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_reason(corpus, case):
    outcome = _graded(corpus, case)
    if case.reason:
        assert case.reason in outcome_text(outcome), (
            f"{case.name}: {case.reason!r} not reported; status {outcome.status!r}, events "
            f"{outcome.events[:4]}, flags {outcome.flags[:3]}, messages "
            f"{list(outcome.messages.values())[:3]}")
    if case.shows:
        text = notebook_text(corpus.root, case)
        assert case.shows in text, f"{case.name}: {case.shows!r} not in the notebook's outputs"


@pytest.mark.parametrize("case", [c for c in CASES if c.verify], ids=lambda case: case.name)
def test_side_effects(corpus, case):
    outcome = _graded(corpus, case)
    problems = case.verify(corpus.root, outcome, notebook_text(corpus.root, case))
    assert not problems, problems


# ---------------------------------------------------------------------------------------------
# across the corpus

@pytest.fixture
def whole_corpus():
    if SELECTED != set(BY_NAME):
        pytest.skip("HOSTILE_CASES selects part of the corpus")


@pytest.mark.usefixtures("whole_corpus")
def test_every_submission_is_graded_and_recorded(corpus):
    assert set(corpus.outcomes) == set(BY_NAME), corpus.log[-20:]
    for case in CASES:
        a = course.get(case.assignment)
        assert records.record_path(corpus.root, a.id, case.name).exists(), case.name


def test_every_case_states_the_one_property_it_protects():
    from tests.hostile.cases import PROPERTIES, PROTECTS
    listed = [name for names in PROTECTS.values() for name in names]
    assert set(PROTECTS) == set(PROPERTIES)
    assert sorted(listed) == sorted(BY_NAME), (set(BY_NAME) ^ set(listed),
                                               {n for n in listed if listed.count(n) > 1})


@pytest.mark.usefixtures("whole_corpus")
def test_every_honest_classmate_gets_full_marks_and_a_gradebook_row(corpus):
    """The class-level property: graded in one batch with every hostile case, each honest
    submission has full marks, and every submission a record and a gradebook row that agree."""
    from tests.hostile.cases import PROTECTS
    for name in PROTECTS["honest"]:
        case = BY_NAME[name]
        assert corpus.outcomes[name].total == case.total, (name, corpus.outcomes[name].messages)
    with gradebook(corpus.root) as gb:
        for case in CASES:
            a = course.get(case.assignment)
            submission = gb.find_submission(a.id, case.name)
            assert submission.score == pytest.approx(corpus.outcomes[case.name].total), case.name


@pytest.mark.usefixtures("whole_corpus")
def test_no_case_inflates_above_the_honest_sample(corpus):
    honest = {A3: corpus.outcomes["honest"].total, A1: full(A1), A2: full(A2)}
    assert honest[A3] == full(A3)
    above = {c.name: corpus.outcomes[c.name].total for c in CASES
             if corpus.outcomes[c.name].total > honest[c.assignment]}
    assert not above, above


@pytest.mark.usefixtures("whole_corpus")
def test_no_submission_costs_more_than_its_budget(corpus):
    """Measured on each submission's own clock (gate.Clock: what its code ran or waited for
    itself, not what it waited for a core), so the bound holds on a busy machine too; the wall
    time of the batch is printed, not asserted (bench/ measures speed)."""
    budget = budget_for_tests()
    slowest = sorted(corpus.outcomes.values(), key=lambda o: -o.own_seconds)[:8]
    print(f"\n{len(corpus.outcomes)} hostile submissions graded in {corpus.seconds:.0f} s with "
          f"{JOBS} jobs; costliest (own time): "
          + ", ".join(f"{o.student} {o.own_seconds:.0f} s" for o in slowest))
    over = {name: round(o.own_seconds) for name, o in corpus.outcomes.items()
            if o.own_seconds > budget.submission + SUBMISSION_SLACK}
    assert not over, over


@pytest.mark.usefixtures("whole_corpus")
def test_no_student_process_outlives_the_batch(corpus):
    assert not corpus.strays, {pid: cmd for pid, (uid, cmd) in list(corpus.strays.items())[:5]}


@pytest.mark.usefixtures("whole_corpus")
def test_student_output_does_not_reach_the_graders_stderr(corpus):
    assert corpus.stderr_bytes <= STDERR_LIMIT, (corpus.stderr_bytes, corpus.stderr_head[:100])


@pytest.mark.usefixtures("whole_corpus")
def test_secrets_are_invisible_to_student_code(corpus):
    """The probe cell (cases.PROBE) lists sys.modules and opens, lists, globs and imports the
    hidden paths; what it printed into the autograded notebook shows nothing secret. And no
    student-facing text of any case (notebook outputs, messages) shows a solution line."""
    probe = BY_NAME["secrets_probe"]
    text = notebook_text(corpus.root, probe)
    assert "NOT IMPORTED grader.hidden.a3" in text and "NOT READ" in text, text[-2000:]
    assert not probe.verify(corpus.root, corpus.outcomes[probe.name], text)
    secret = stubs.secret_lines((course.SOURCE_LAYERS / "layers.py").read_text())
    for case in CASES:
        student_text = notebook_text(corpus.root, case) + "\n".join(
            corpus.outcomes[case.name].messages.values())
        own = _submitted_text(corpus.root, case)    # a traceback may quote the student's code
        shown = [line for line in secret if line in student_text and line not in own]
        assert not shown, (case.name, shown[:3])


def _submitted_text(root, case):
    folder = Path(root) / "submitted" / case.name / course.get(case.assignment).id
    return "\n".join(path.read_text(errors="replace") for path in folder.rglob("*")
                     if path.is_file() and not path.is_symlink())


@pytest.mark.usefixtures("whole_corpus")
def test_a_crash_is_what_the_student_is_told(corpus):
    """When the hidden check killed or stopped the student process, the student-facing message
    says so, instead of claiming that the public check passes."""
    wrong = {}
    for name, outcome in corpus.outcomes.items():
        for check, hidden in outcome.hidden.items():
            crashed = any(s in hidden for s in ("the process", "did not return within"))
            if crashed and "the public check passes" in outcome.messages.get(check, ""):
                wrong[f"{name}/{check}"] = hidden[:100]
    assert not wrong, wrong


def test_parallel_checks_keep_the_graders_stdout():
    """Two factorize checks overlapping in two grading threads (the second starts while the
    first waits for the student's code): the student's prints are silenced, another thread's
    prints meanwhile still reach the grader's stdout, and sys.stdout is the grader's after."""
    import io

    from grader.nncheck import calculus

    def slow(delay):
        def factorize(X, rank, n_iter, seed=0):
            print("student noise")
            time.sleep(delay)
            raise ValueError("slow")
        return {"factorize": factorize}

    original = sys.stdout
    sys.stdout = captured = io.StringIO()
    try:
        first = threading.Thread(target=calculus.check_factorize, args=(slow(0.5),))
        second = threading.Thread(target=calculus.check_factorize, args=(slow(1.0),))
        first.start()
        time.sleep(0.2)
        second.start()
        time.sleep(0.1)
        print("grader progress")        # this thread is not silencing anything
        first.join()
        second.join()
        left = sys.stdout
    finally:
        sys.stdout = original
    assert left is captured, f"the grader's sys.stdout is now {left!r}"
    assert "grader progress" in captured.getvalue()
    assert "student noise" not in captured.getvalue()


# ---------------------------------------------------------------------------------------------
# no student HTML runs in a TA's browser

def _as_formgrader_renders(notebook: Path, out: Path) -> Path:
    """The page formgrader serves for an autograded notebook (its exporter and template)."""
    from nbconvert import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    exporter = HTMLExporter(template_name="formgrade",
                            extra_template_basedirs=[handlers.template_path])
    resources = {"assignment_id": "a", "notebook_id": "a", "submission_id": "s", "index": 0,
                 "total": 1, "base_url": "", "student": "s", "last_name": None,
                 "first_name": None, "notebook_path": "a.ipynb"}
    page, _ = exporter.from_filename(str(notebook), resources=resources)
    out.write_text(page)
    return out


def _title_after_scripts(page: Path, tmp_path: Path) -> str:
    dom = chromium(tmp_path, "--dump-dom", "--virtual-time-budget=3000", page.as_uri())
    return (re.search(r"<title>(.*?)</title>", dom, re.S) or [None, ""])[1]


@needs_chromium
@pytest.mark.usefixtures("whole_corpus")
def test_no_student_html_runs_in_formgrader(corpus, tmp_path):
    """The autograded notebooks of the cases that try, rendered as formgrader renders them and
    loaded in headless Chromium: no script, event handler or output of theirs runs. The same
    Markdown left as the student wrote it does run (the check can fail)."""
    from tests.hostile.cases import ACTIVE_MARKDOWN
    for name, assignment in (("active_html", A1), ("forged_outputs", A3)):
        a = course.get(assignment)
        notebook = corpus.root / "autograded" / name / a.id / a.notebook
        page = _as_formgrader_renders(notebook, tmp_path / f"{name}.html")
        assert "PWNED" not in _title_after_scripts(page, tmp_path), name
    raw = json.loads(notebook.read_text())
    raw["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ACTIVE_MARKDOWN})
    (tmp_path / "raw.ipynb").write_text(json.dumps(raw))
    page = _as_formgrader_renders(tmp_path / "raw.ipynb", tmp_path / "raw.html")
    assert "PWNED" in _title_after_scripts(page, tmp_path)


# ---------------------------------------------------------------------------------------------
# a killed batch resumes

GRADED_LINE = re.compile(r"^(a\d_\w+) (\S+): [\d.]+/[\d.]+ ")
RESUME_CASES = ("honest", "exit_in_layer", "sys_exit_in_layer", "memory_bomb",
                "a2_exit_in_gate", "monkeypatch_numpy", "corrupt_json", "edited_points")


@pytest.fixture(scope="module")
def small_course():
    base = _course_dir()
    root = base / "course"
    release.release(root, log=lambda *args: None)
    yield root
    shutil.rmtree(base, ignore_errors=True)


def _children(pid):
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
            and f"PPid:\t{pid}\n" in _read(p / "status")]


def _records(root):
    return {p: p.stat().st_mtime_ns for p in Path(root).glob(f"autograded/*/*/{records.RESULTS_FILE}")}


def test_a_killed_batch_resumes_without_grading_anything_twice(small_course):
    root = small_course
    for name in RESUME_CASES:
        build_case(BY_NAME[name], root)
    a2_plain = Submission(root / "submitted" / "plain" / A2, course.get(A2))
    build_base("correct", course.get(A2), root / "release" / A2, a2_plain.folder)
    expected = {(course.get(BY_NAME[n].assignment).id, n): BY_NAME[n].total for n in RESUME_CASES}
    expected[(A2, "plain")] = full(A2)

    script = ("import sys\n"
              "from grader.autograde import autograde\n"
              "from tests.hostile.cases import budget_for_tests\n"
              "autograde(sys.argv[1], jobs=2, progress=False, budget=budget_for_tests(),\n"
              "          log=lambda *a: None)\n")
    grader = subprocess.Popen([sys.executable, "-c", script, str(root)], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(_records(root)) < 3 and grader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        servers = [p for p in _children(grader.pid) if "zygote" in _read(Path(f"/proc/{p}/cmdline"))]
        assert grader.poll() is None, "the batch finished before it could be killed"
        grader.send_signal(signal.SIGKILL)
        grader.wait(10)
    finally:
        if grader.poll() is None:
            grader.kill()
            grader.wait(10)
    done_before = _records(root)
    assert 3 <= len(done_before) < len(expected), len(done_before)
    for _ in range(100):            # the fork server notices its grader is gone, and exits
        if not any(Path(f"/proc/{p}").exists() for p in servers):
            break
        time.sleep(0.1)
    alive = [p for p in servers if Path(f"/proc/{p}").exists()]
    kill(alive)
    assert not alive, "the fork server outlived its killed grader"

    log = []
    try:
        outcomes = grading.autograde(root, jobs=2, progress=False, budget=budget_for_tests(),
                                     log=log.append)
    except grading.GradingFailed as error:
        raise AssertionError("\n".join([str(error), *log])) from None
    # every submission has exactly one record, each graded exactly once
    assert {(o.assignment, o.student) for o in outcomes} == set(expected)
    assert len(outcomes) == len(expected)
    assert f"{len(done_before)} submissions already graded (unchanged): skipped" in log
    regraded = {m.groups() for m in map(GRADED_LINE.match, log) if m}
    recorded = {(p.parent.name, p.parent.parent.name) for p in done_before}
    assert regraded == set(expected) - recorded, log
    after = _records(root)
    assert set(after) >= set(done_before)
    assert all(after[p] == t for p, t in done_before.items()), "a finished record was rewritten"
    assert not list(Path(root).glob("autograded/**/*.partial"))
    for o in outcomes:
        assert o.total == expected[(o.assignment, o.student)], (o.student, o.total)
    # the records agree with nbgrader's gradebook, which has no duplicates
    with gradebook(root) as gb:
        for aid in {a for a, _ in expected}:
            students = [s.student.id for s in gb.find_assignment(aid).submissions]
            assert sorted(students) == sorted({s for a, s in expected if a == aid})
        for o in outcomes:
            record = json.loads(records.record_path(root, o.assignment, o.student).read_text())
            assert record["total"] == o.total
            submission = gb.find_submission(o.assignment, o.student)
            if o.status != "graded":
                continue
            a = course.get(o.assignment)
            for check, result in record["checks"].items():
                grade = gb.find_grade(check, a.id, a.id, o.student)
                assert grade.auto_score == result["points"], (o.student, check)
            assert submission.code_score == pytest.approx(o.total)


# ---------------------------------------------------------------------------------------------
# the budget bounds slow cells, even across a restart

def _slow_cells_and_a_crash(sub):
    for i in range(10):
        sub.add_cell(f"import time\ntime.sleep(1.9)   # slow experiment {i}")
    nb = sub.load()
    cell = nb["cells"][sub.index(nb, "multiply_gate_solution")]
    source = cells.source(cell).replace("def backward(self, dz):",
                                            "def backward(self, dz):\n        import os; os._exit(1)", 1)
    cell["source"] = source
    sub.save(nb)


def test_the_budget_bounds_slow_cells_across_a_restart():
    base = _course_dir()
    root = base / "course"
    release.release(root, [A2], log=lambda *args: None)
    budget = Budget(cell=2.0, check=1.0, slow_check=2.0, submission=6.0)
    folder = root / "submitted" / "slow_cells" / A2
    build_base("correct", course.get(A2), root / "release" / A2, folder)
    _slow_cells_and_a_crash(Submission(folder, course.get(A2)))
    try:
        (outcome,) = grading.autograde(root, [A2], jobs=1, progress=False, budget=budget,
                                       log=lambda *a: None)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    bound = budget.submission + budget.slow_check + budget.cell + 3.0
    print(f"\nslow cells and a crash: graded in {outcome.own_seconds:.1f} s of its own time "
          f"({outcome.seconds:.1f} s wall), bound {bound:g} s")
    assert outcome.own_seconds <= bound, (round(outcome.own_seconds, 1), outcome.events[:3])
