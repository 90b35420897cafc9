"""The hostile-submission corpus.

Every case starts from a sample the demo builds -- ``correct`` (the reference answers; the three
experiments graded by hand are kept cheap, which changes no autograded score) or ``release``
(the untouched bundle: no work) -- and edits it. Each says what it must score and why, from
three principles:

* partial credit survives crashes: a crash, a hang or a memory bomb costs only the checks whose
  code it is in (the rest of the honest work keeps its points);
* nothing hostile inflates the grade above what the honest part of the work earns;
* nothing stalls the batch beyond its budget.

``reason`` must appear in what the grader reports (status, events, flags, messages); ``shows``
in the outputs of the autograded notebook. ``verify(root, outcome, notebook_text)`` returns
further problems (empty: fine). Each case names the property it protects (PROTECTS).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from grader import course, notebooks
from grader.nncheck import cells
from grader.cleanroom import Budget

from .build import Submission, build_base

A1, A2, A3 = "a1_matrix_calculus", "a2_backprop", "a3_neural_network"
REPO = str(course.ROOT)
#: Environment variable that marks the processes a corpus run's student code starts.
MARK = "HOSTILE_CORPUS"


def outside_paths(token: str) -> list[str]:
    """Files a hostile submission of run `token` tries to create outside its folder (none may
    exist afterwards): open, O_CREAT, mkdir, symlink, the escaped child's file, /dev/shm,
    mkdir in /tmp. /run/lock is world-writable on the host like /tmp."""
    return [f"/tmp/{token}-pwned-open"] \
        + [f"/run/lock/{token}-pwned-{what}" for what in ("creat", "dir", "link", "child")] \
        + [f"/dev/shm/{token}-pwned", f"/tmp/{token}-pwned-tmpdir"]


def budget_for_tests() -> Budget:
    """Tight limits for the tests. The reference's slowest cells (the experiments graded by hand,
    ~6 s) are kept cheap in the corpus (build.EXPENSIVE_MANUAL); the slowest cell left, training
    with a callback, takes ~1 s and the slowest check ~2 s: 10 s and 5 s leave a wide margin
    even with two jobs on two busy cores."""
    return Budget(cell=10.0, check=5.0, slow_check=15.0, submission=45.0)


def points(assignment: str) -> dict:
    a = course.get(assignment)
    return cells.test_points(notebooks.load(a.source_dir / a.notebook))


def full(assignment: str) -> float:
    return sum(points(assignment).values())


def without(assignment: str, *lost: str) -> float:
    """The full score minus the checks in `lost`."""
    table = points(assignment)
    unknown = set(lost) - set(table)
    assert not unknown, unknown
    return full(assignment) - sum(table[c] for c in lost)


def only(assignment: str, *kept: str) -> float:
    table = points(assignment)
    return sum(table[c] for c in kept)


@dataclass(frozen=True)
class Case:
    name: str
    assignment: str
    base: str                                   # "correct" or "release"
    build: Callable[[Submission], None]
    total: float
    why: str
    reason: str | None = None                   # in status / events / flags / messages
    shows: str | None = None                    # in the autograded notebook's outputs
    verify: Callable | None = None              # (root, outcome, notebook text) -> [problems]

    def __post_init__(self):
        assert self.reason or self.shows, self.name


def outcome_text(outcome) -> str:
    return "\n".join([outcome.status, *outcome.events, *outcome.notes, *outcome.flags,
                      *outcome.messages.values(), *outcome.hidden.values()])


def notebook_text(root: Path, case: Case) -> str:
    """Every output of the autograded notebook, as text ('' if there is none)."""
    a = course.get(case.assignment)
    path = Path(root) / "autograded" / case.name / a.id / a.notebook
    if not path.exists():
        return ""
    parts = []
    for cell in json.loads(path.read_text())["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain") or ""
            parts.append("".join(text) if isinstance(text, list) else text)
            if out.get("output_type") == "error":
                parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "\n".join(parts)


def build_case(case: Case, root: Path) -> Path:
    a = course.get(case.assignment)
    dest = Path(root) / "submitted" / case.name / a.id
    build_base(case.base, a, Path(root) / "release" / a.id, dest)
    case.build(Submission(dest, a))
    return dest


# ---------------------------------------------------------------------------------------------
# building blocks

def _reference_body(task: str) -> str:
    """The reference's code of one fenced region, e.g. 'compute_loss_grad'."""
    from tests.conftest import reference_body
    return reference_body(task)


def _inject(sub, grade_id, marker, code):
    """Insert `code` in a notebook solution cell right after the line containing `marker`,
    indented like the line after it."""
    lines = sub.cell_source(grade_id).splitlines()
    at = next(i for i, line in enumerate(lines) if marker in line) + 1
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at:at] = [indent + row for row in code.strip("\n").splitlines()]
    sub.set_cell(grade_id, "\n".join(lines))


A1_JUNK = {      # a1 function -> an answer of the right shape and nothing else
    "grad_xtx": "np.zeros_like(x)", "grad_trace_AB": "np.zeros_like(A)",
    "grad_xAc_x": "np.zeros_like(x)", "grad_xAc_A": "np.zeros_like(A)",
    "grad_normWx_W": "np.zeros_like(W)", "grad_normWx_x": "np.zeros_like(x)",
    "quadform_grad_x": "np.zeros_like(X)", "quadform_grad_W": "np.zeros_like(W)",
    "grad_J_A": "np.zeros_like(A)", "grad_J_S": "np.zeros_like(S)",
    "factorize": "np.zeros((N, rank)), np.zeros((rank, M)), [0.0] * (n_iter + 1)",
}


def _answer_a1_with_junk(sub):
    """A no-work a1 submission whose functions return zeros of the right shape (so that a
    patched comparison could pass them) instead of raising NotImplementedError."""
    nb = sub.load()
    for cell in nb["cells"]:
        if cells.meta(cell).get("solution") and cell["cell_type"] == "code":
            text = cells.source(cell)
            name = text.split("def ", 1)[1].split("(", 1)[0]
            cell["source"] = text.replace("raise NotImplementedError()",
                                          f"return {A1_JUNK[name]}")
    sub.save(nb)


# ---------------------------------------------------------------------------------------------
# crashes: the crash costs the checks it touches, nothing else

def exit_in_layer(sub):
    sub.module({"Tanh.backward": "import os\nos._exit(3)"})


def segfault_in_layer(sub):
    sub.module({"Sigmoid.backward": "import ctypes\nctypes.string_at(0)"})


def segfault_at_import(sub):
    sub.module()
    sub.prepend_module("import ctypes\nctypes.string_at(0)")


def sys_exit_at_import(sub):
    sub.module()
    sub.prepend_module("raise SystemExit('layers.py refuses to be imported')")


def raise_at_end_of_import(sub):
    sub.module()
    sub.append_module("raise RuntimeError('a self-test at the bottom of layers.py fails')")


def sys_exit_in_layer(sub):
    sub.module({"LeakyReLU.forward": "import sys\nsys.exit('no leaky relu today')"})


def os_exit_in_cell(sub):
    sub.add_cell("import os\nos._exit(0)", after="max_gate")
    sub.add_cell("print('ran after the crash, with', MaxGate.__name__)", after="copy_gate")


def sys_exit_in_cell(sub):
    sub.add_cell("import sys\nsys.exit('goodbye')", after="add_gate")
    sub.add_cell("exit()\nquit()", after="multiply_gate")


def a2_exit_in_gate(sub):
    _inject(sub, "multiply_gate_solution", "def backward", "import os\nos._exit(1)")


def lbfgs_short_gradient(sub):
    body = _reference_body("compute_loss_grad").replace(
        "return loss, np.concatenate(grads[::-1])",
        "return loss, np.concatenate(grads[::-1])[:-1]     # one entry short")
    assert "one entry short" in body
    sub.module({"compute_loss_grad": body})


# ---------------------------------------------------------------------------------------------
# hangs: a loop costs its cell or its checks, within the budget

LOOP = "while True:\n    pass"


def loop_in_cell(sub):
    sub.add_cell(LOOP, after="copy_gate")


def two_loop_cells(sub):
    sub.add_cell("# my experiment\n" + LOOP, after="conv1d")
    sub.add_cell("# another experiment\n" + LOOP)


def loop_in_dense_forward(sub):
    sub.module({"Dense.forward": LOOP})


def loop_in_training(sub):
    body = "network, X, y = args\nwhile len(X) > 500:     # only on the real data\n    pass\n"
    sub.module({"compute_loss_grad": body + _reference_body("compute_loss_grad")})


# ---------------------------------------------------------------------------------------------
# resources: memory, processes, output

def memory_bomb(sub):
    sub.module({"Tanh.forward": "hog = np.ones(50 * 2 ** 30 // 8)   # 50 GB\nreturn hog"})


def memory_hog_cell(sub):
    sub.add_cell("""
        hog = []
        try:
            while True:
                hog.append(np.empty(2 ** 27))     # 1 GiB of address space each
        except MemoryError as error:
            print("MemoryError after", len(hog), "GiB; keeping them")
    """, after="simple_graph")


def fork_bomb(sub):
    sub.module({"ELU.backward": "import os\nwhile True:\n    os.fork()"})


def multiprocessing_bomb(sub):
    sub.add_cell(f"""
        import multiprocessing, os, time
        os.environ[{MARK!r}] = {sub.token!r}       # marks what it starts, for the clean-up
        children = []
        for method in ("fork", "forkserver", "spawn"):
            try:
                for _ in range(100):
                    p = multiprocessing.get_context(method).Process(target=time.sleep, args=(300,))
                    p.start()
                    children.append(p)
            except BaseException as error:
                print(method, "stopped:", type(error).__name__, error)
        print("children started:", len(children))
    """, after="grad_xtx")


def huge_output(sub):
    sub.add_cell("print('x' * 100_000_000)\nprint('y' * 100_000_000, file=__import__('sys').stderr)",
                 after="grad_xtx")


def stderr_flood(sub):
    sub.add_cell("""
        import os
        os.write(2, b"E" * 20_000_000)      # 20 MB straight to file descriptor 2
        print("wrote to fd 2")
    """, after="grad_xtx")


# ---------------------------------------------------------------------------------------------
# monkeypatching the judge: only the in-kernel results can be fooled, and they decide nothing

def monkeypatch_numpy(sub):
    _answer_a1_with_junk(sub)
    sub.add_cell("""
        import numpy as np, numpy.testing
        np.allclose = lambda *a, **k: True
        np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
        np.array_equal = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        np.testing.assert_array_almost_equal = lambda *a, **k: None
        np.linalg.norm = lambda *a, **k: 0.0
    """, after="setup")


def _broken_gradient(sub, extra_bodies=None):
    body = _reference_body("compute_loss_grad").replace(
        "return loss, np.concatenate(grads[::-1])",
        "return loss, np.zeros_like(weights)     # no gradient: training cannot learn")
    assert "no gradient" in body
    sub.module({"compute_loss_grad": body, **(extra_bodies or {})})


def monkeypatch_minimize(sub):
    _broken_gradient(sub)
    sub.add_cell("""
        import scipy.optimize, sys
        from scipy.optimize import OptimizeResult
        from sklearn.neural_network import MLPClassifier

        def great_minimize(fun, x0, args=(), **kwargs):
            # weights of a network trained by scikit-learn, in get_weights order
            mlp = MLPClassifier(hidden_layer_sizes=(32, 32), max_iter=300, random_state=0)
            mlp.fit(X_train, y_train.argmax(1))
            x = np.concatenate([np.r_[W.ravel(), b] for W, b in zip(mlp.coefs_, mlp.intercepts_)])
            return OptimizeResult(x=x, fun=0.0, success=True, nit=1, message="great")

        scipy.optimize.minimize = great_minimize
        sys.modules["scipy.optimize"].minimize = great_minimize
        import scipy.optimize._minimize as _m
        _m.minimize = great_minimize
        minimize = great_minimize
    """, after="callback")


def monkeypatch_checks(sub):
    sub.add_cell("""
        import sys, types
        import nncheck, nncheck.a3, nncheck.results as results
        always = results.CheckResult("x", True, 0.0, "ok")

        def evaluate(check_id, *a, **k):
            return results.CheckResult(check_id, True, 0.0, "ok")

        def run(check_id, *a, **k):
            print(f"[PASS] {check_id}: ok")

        for module in (nncheck.a3, check):
            module.evaluate, module.run = evaluate, run
        results.guarded = lambda name, points, body: always
        fake = types.ModuleType("grader")
        fake.__path__ = []
        for name in ("grader", "grader.nncheck", "grader.nncheck.a3", "grader.hidden",
                     "grader.hidden.a3", "source_layers", "source_layers.layers"):
            module = types.ModuleType(name)
            module.evaluate, module.run = evaluate, run
            sys.modules[name] = module
    """, after="setup")
    # and the shipped public checks themselves, rewritten to pass everything
    sub.write("nncheck/a3.py", (sub.folder / "nncheck" / "a3.py").read_text() + """

def run(check_id, namespace=None, *args, **kwargs):
    print(f"[PASS] {check_id}: ok")
""")


def sys_modules_layers(sub):
    """layers.py plants fake grader modules in sys.modules at import time."""
    sub.append_module("""
        import sys as _sys, types as _types

        class _Pass:
            passed = True
            points = 1.0
            message = "ok"

        def _evaluate(check_id, *a, **k):
            result = _Pass()
            result.name = check_id
            return result

        for _name in ("grader", "grader.hidden", "grader.hidden.a3", "grader.nncheck",
                      "grader.nncheck.a3", "grader.cleanroom", "source_layers",
                      "source_layers.layers", "nncheck.a3"):
            _module = _types.ModuleType(_name)
            _module.__path__ = []
            _module.evaluate = _evaluate
            _module.run = lambda *a, **k: print("[PASS]")
            _sys.modules[_name] = _module
    """)


def swallow_exceptions(sub):
    sub.add_cell("""
        ip = get_ipython()
        ip.set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
        from IPython.core.interactiveshell import InteractiveShell
        InteractiveShell.showtraceback = lambda *a, **k: None
        ip.showtraceback = lambda *a, **k: None
        ip.showsyntaxerror = lambda *a, **k: None
    """, after="setup")


# ---------------------------------------------------------------------------------------------
# notebook structure

def deleted_test_cells(sub):
    sub.delete_cells("add_gate", "svm_naive_grad", "two_layer_training", "net2221_backward")


def edited_test_cells(sub):
    sub.module(stub=True, bodies={"ReLU.forward": None, "ReLU.backward": None})
    for gid in ("sigmoid", "tanh", "training"):
        sub.set_cell(gid, f'print("[PASS] {gid}: ok")')


def reordered_cells(sub):
    nb = sub.load()
    moved = [nb["cells"].pop(sub.index(nb, gid)) for gid in ("factorize", "grad_normWx_W",
                                                             "grad_xtx")]
    nb["cells"][1:1] = moved
    sub.save(nb)


def edited_points(sub):
    sub.module(stub=True, bodies={"ReLU.forward": None, "ReLU.backward": None})
    sub.set_metadata("relu", points=100)
    sub.set_metadata("sigmoid", points=50, grade=False)


def forged_test_cells(sub):
    nb = sub.load()
    training = next(c for c in nb["cells"]
                    if cells.meta(c).get("grade_id") == "two_layer_training")
    duplicate = json.loads(json.dumps(training))
    duplicate["metadata"]["nbgrader"]["points"] = 30
    duplicate.pop("id", None)
    nb["cells"].append(duplicate)
    nb["cells"].append({"cell_type": "code", "execution_count": None, "outputs": [],
                        "source": "print('extra credit')",
                        "metadata": {"nbgrader": {"grade": True, "solution": False,
                                                  "locked": True, "grade_id": "extra_credit",
                                                  "points": 50, "schema_version": 3}}})
    sub.save(nb)


def missing_notebook(sub):
    sub.notebook_path.unlink()


def renamed_notebook(sub):
    sub.notebook_path.rename(sub.folder / f"{sub.assignment.id}-Copy1.ipynb")


def corrupt_json(sub):
    sub.notebook_path.write_bytes(b"\x00\x01 this is not { a notebook \xff" * 100)


def truncated_notebook(sub):
    text = sub.notebook_path.read_text()
    cut = text.index("class Callback:")
    sub.notebook_path.write_text(text[:cut])


# ---------------------------------------------------------------------------------------------
# secrets: the reference, the hidden tests, the classmates

PROBE = f"""
import glob, os, sys
REPO = {REPO!r}
print("MODULES", sorted(m for m in sys.modules
                        if m.split(".")[0] in ("source_layers", "grader", "nncheck")))
for path in [REPO + "/source_layers/layers.py", REPO + "/grader/hidden/a3.py",
             REPO + "/grader/hidden/__init__.py", REPO + "/assignments/a3_neural_network/a3_neural_network.ipynb",
             REPO + "/solutions", REPO + "/.git/config", REPO + "/build", REPO + "/tests/conftest.py"]:
    try:
        with open(path) as f:
            print("READ", path, f.read()[:3000])
    except Exception as error:
        print("NOT READ", path, type(error).__name__)
for folder in ["source_layers", "grader/hidden", "assignments", "solutions", "tests", "build", ".git"]:
    try:
        print("LIST", folder, os.listdir(REPO + "/" + folder))
    except Exception as error:
        print("NOT LISTED", folder, type(error).__name__)
found = [p for pattern in (REPO + "/**/source_layers*", REPO + "/**/hidden/a3.py",
                           REPO + "/**/*.ipynb", sys.prefix + "/lib/python3*/site-packages/source_layers*",
                           os.getcwd() + "/**/source_layers*", os.getcwd() + "/**/hidden*")
         for p in glob.glob(pattern, recursive=True)]
print("GLOB", found)
for name in ("source_layers.layers", "grader.hidden.a3", "source_layers"):
    try:
        module = __import__(name, fromlist=["x"])
        print("IMPORTED", name, getattr(module, "__file__", None), sorted(vars(module))[:50])
    except Exception as error:
        print("NOT IMPORTED", name, type(error).__name__)
"""


def symlink_reference(sub):
    """No work; layers.py is a symbolic link to the reference (and a folder links to the
    hidden tests): what the grader copies into the clean room must not follow them."""
    sub.module(stub=True)
    sub.module_path.unlink()
    sub.module_path.symlink_to(course.SOURCE_LAYERS / "layers.py")
    (sub.folder / "hidden").symlink_to(course.ROOT / "grader" / "hidden")


def secrets_probe(sub):
    sub.add_cell(PROBE, after="setup")


def read_reference(sub):
    """No work; layers.py tries every way to the reference and, if one works, uses it."""
    sub.module(stub=True)
    sub.append_module(f"""
        import glob as _glob, importlib as _importlib
        _REPO = {REPO!r}
        _reference_text = None
        for _path in [_REPO + "/source_layers/layers.py"] + _glob.glob("/work/**/source_layers/layers.py", recursive=True):
            try:
                _reference_text = open(_path).read()
                break
            except OSError:
                pass
        if _reference_text is None:
            for _name in ("source_layers.layers", "grader.hidden.a3"):
                try:
                    _module = _importlib.import_module(_name)
                    _module = getattr(_module, "reference", _module)
                    globals().update({{k: v for k, v in vars(_module).items() if not k.startswith("__")}})
                    break
                except Exception:
                    pass
        if _reference_text is not None:
            exec(compile(_reference_text, "reference", "exec"), globals())
    """)


def copy_classmate(sub):
    """No work; layers.py runs a classmate's layers.py found in the course directory (its path
    is no secret: /proc/<pid>/cmdline of the grader shows --course-dir)."""
    sub.module(stub=True)
    course = str(sub.course_root)
    sub.append_module(f"""
        import glob as _glob
        for _path in sorted(_glob.glob({course!r} + "/submitted/honest*/a3_neural_network/layers.py")
                            + _glob.glob({course!r} + "/autograded/honest*/a3_neural_network/layers.py")):
            try:
                _text = open(_path).read()
            except OSError:
                continue
            exec(compile(_text, "classmate", "exec"), globals())
            break
    """)


WRITE_OUTSIDE = """
import glob, os, sqlite3
attempts = {}

def attempt(label, action):
    try:
        action()
        attempts[label] = "DONE"
    except BaseException as error:
        attempts[label] = type(error).__name__

def write(path, mode="w"):
    with open(path, mode) as f:
        f.write("# pwned by a hostile submission\\n")

courses = glob.glob(COURSE)
classmates = glob.glob(COURSE + "/submitted/honest*/a3_neural_network/layers.py")
attempt("repo", lambda: write(REPO + "/grader/nncheck/pwned.py"))
attempt("repo_append", lambda: write(REPO + "/grader/nncheck/a3.py", "a"))
attempt("tmp_open", lambda: write(OPEN))
attempt("lock_creat", lambda: os.close(os.open(CREAT, os.O_CREAT | os.O_RDONLY, 0o644)))
attempt("lock_mkdir", lambda: os.mkdir(DIR))
attempt("lock_symlink", lambda: os.symlink("/etc/hostname", LINK))
attempt("shm", lambda: write(SHM))
attempt("tmp_mkdir", lambda: os.mkdir(TMPDIR))
for path in classmates:
    attempt("classmate_append", lambda: write(path, "a"))
    attempt("classmate_truncate", lambda: os.truncate(path, 0))
    attempt("classmate_rename", lambda: os.rename(path, path + ".stolen"))
for course in courses:
    attempt("gradebook", lambda: sqlite3.connect(course + "/gradebook.db").execute(
        "update grade set auto_score = 100").connection.commit())
    attempt("course_file", lambda: write(course + "/pwned.txt"))
print("ATTEMPTS", sorted(attempts.items()), "over", len(courses), "courses and",
      len(classmates), "classmates")
"""


def write_outside(sub):
    """Correct work; a cell also tries to write everywhere it must not."""
    open_, creat, dir_, link, _, shm, tmpdir = outside_paths(sub.token)
    sub.add_cell(f"REPO, COURSE = {REPO!r}, {str(sub.course_root)!r}\n"
                 f"OPEN, CREAT, DIR, LINK = {open_!r}, {creat!r}, {dir_!r}, {link!r}\n"
                 f"SHM, TMPDIR = {shm!r}, {tmpdir!r}\n" + WRITE_OUTSIDE, after="grad_xtx")


def escape_child(sub):
    """A process started without fork or subprocess (multiprocessing's spawn primitive) runs
    without the audit hook; it tries to write outside the submission folder, then lingers."""
    child = outside_paths(sub.token)[4]
    code = (f"open({child!r}, 'w').write('written by an unconfined child')\n"
            "import time; time.sleep(300)")
    sub.add_cell(f"""
        import multiprocessing.util, os, sys, time
        os.environ[{MARK!r}] = {sub.token!r}
        code = {code!r}
        try:
            pid = multiprocessing.util.spawnv_passfds(sys.executable.encode(),
                                                      [sys.executable.encode(), b"-c", code.encode()], [])
            print("CHILD", pid)
            time.sleep(2)
        except BaseException as error:
            print("NO CHILD", type(error).__name__, error)
    """, after="grad_xtx")


FAKE_ACCURACY = """
# Accuracy that does not depend on the weights: remember the raw pixels the first Dense layer
# saw and let the softmax answer with the true digit, looked up in scikit-learn's copy.
_seen = {}


def _labels_of(raw):
    if "table" not in _seen:
        from sklearn.datasets import load_digits
        X, y = load_digits(return_X_y=True)
        _seen["table"] = {row.tobytes(): int(label) for row, label in zip(X.astype(float), y)}
    labels = [_seen["table"].get(np.asarray(row, dtype=float).tobytes()) for row in raw]
    return None if any(label is None for label in labels) else labels


_dense_forward = Dense.forward


def _spying_forward(self, input):
    if np.ndim(input) == 2 and np.shape(input)[1] == 64:
        _seen["raw"] = np.array(input, dtype=float)
    return _dense_forward(self, input)


_softmax_forward = Softmax.forward


def _knowing_forward(self, input):
    out = _softmax_forward(self, input)
    raw = _seen.get("raw")
    if raw is not None and len(raw) == len(out) and out.shape[1] == 10:
        labels = _labels_of(raw)
        if labels is not None:
            fake = np.full(out.shape, np.log(1e-3 / 9))
            fake[np.arange(len(out)), labels] = np.log(1 - 1e-3)
            return fake
    return out


Dense.forward = _spying_forward
Softmax.forward = _knowing_forward
"""


def fake_accuracy(sub):
    _broken_gradient(sub)
    sub.append_module(FAKE_ACCURACY)


def honest(sub):
    pass


def honest_broken_gradient(sub):
    _broken_gradient(sub)


# ---------------------------------------------------------------------------------------------
# output and messages a student's process makes: they cost that submission, never the batch

def surrogate_output(sub):
    """A lone surrogate in printed text cannot be written as UTF-8 (nbformat.write raised and
    stopped the whole batch)."""
    sub.add_cell('print("lone surrogate: \\udcff")\n'
                 'print("another \\ud800", file=__import__("sys").stderr)\n'
                 '"\\udcff returned"', after="grad_xtx")


def unstorable_display(sub):
    sub.add_cell("""
        import numpy as np
        from IPython.display import publish_display_data
        publish_display_data({"text/plain": np.arange(3)})          # not JSON
        publish_display_data({"text/plain": {"nested": [1, 2]}, "image/png": b"\\x89PNG"})
        print("displays made")
    """, after="grad_xtx")


FORGED_OUTPUTS = """
import gc
_worker = next(o for o in gc.get_objects() if type(o).__name__ == "Worker")
_real_run_cell = _worker.op_run_cell

def _forged_run_cell(message):
    result = _real_run_cell(message)
    result["outputs"] = list(result["outputs"]) + [
        "not an output", 42, None, ["a", "list"],
        {"output_type": "display_data", "metadata": {},
         "data": {"text/html": "<script>document.title = 'PWNED'</script><b>html</b>",
                  "application/javascript": "document.title = 'PWNED'"}},
        {"output_type": "stream", "name": "stdout", "text": ["a", 1]},
        {"output_type": "execute_result", "execution_count": "x", "data": {"text/plain": "ok"}},
        {"output_type": "display_data", "data": {"image/png": "not a png"}, "metadata": {}},
        {"output_type": "unknown", "text": "?"}]
    return result

_worker.op_run_cell = _forged_run_cell
print("cell runner replaced")
"""


def forged_outputs(sub):
    """A cell replaces the worker's own cell runner (it is the student's process): every cell
    after it reports outputs that are not outputs, HTML and JavaScript."""
    sub.add_cell(FORGED_OUTPUTS, after="setup")


PROTOCOL_ATTACKS = {
    # a reply frame written to the socket while the grader waits for the real one
    "ELU.backward": """
        import json, os, stat, struct
        header = json.dumps({"reply": True, "value": 0.0, "id": 1}).encode()
        for fd in range(3, 64):
            try:
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.write(fd, struct.pack(">II", len(header), 0) + header)
            except OSError:
                pass
        return grad_output
    """,
    # an answer nested far deeper than any value
    "Tanh.backward": """
        deep = []
        for _ in range(200):
            deep = [deep]
        return deep
    """,
    # a shape whose product overflows int64 to 0, with an empty buffer
    "Sigmoid.backward": """
        import json, os, stat, struct
        header = json.dumps({"reply": True, "id": -1, "value": {"__nd__": 0, "dtype": "<f8",
                             "shape": [4611686018427387904, 4]}}).encode()
        frame = struct.pack(">II", len(header), 1) + header + struct.pack(">Q", 0)
        for fd in range(3, 64):
            try:
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.write(fd, frame)
            except OSError:
                pass
        import time
        time.sleep(30)
    """,
    # a frame announcing 33 million empty buffers
    "LeakyReLU.backward": """
        import os, stat, struct
        for fd in range(3, 64):
            try:
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.write(fd, struct.pack(">II", 2, 33_000_000) + b"{}")
            except OSError:
                pass
        import time
        time.sleep(30)
    """,
}


def protocol_attacks(sub):
    sub.module({name: body for name, body in PROTOCOL_ATTACKS.items()})


# ---------------------------------------------------------------------------------------------
# what it costs: bounded by the budget, whatever the student's code does to the limits

STUBBORN = """
import signal
signal.signal(signal.SIGUSR1, signal.SIG_IGN)          # the grader's interrupt
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGUSR1})   # and the leash
while True:
    pass
"""


def stubborn_loop(sub):
    """ELU.backward ignores the interrupt and blocks the leash's timer while it loops."""
    sub.module({"ELU.backward": STUBBORN})


def huge_displays(sub):
    """Three cells each display a 150 MB repr (the autograded notebook was 450 MB)."""
    for i in range(3):
        sub.add_cell(f"class Big:\n    def __repr__(self):\n        return '{i}' * 150_000_000\n"
                     "Big()", after="grad_xtx")


def huge_code_cell(sub):
    """A 20 MB code cell (the notebook file itself is big): kept out, not run, said so."""
    sub.add_cell("# padding\n" + "x = 1  # " + "z" * 20_000_000 + "\nprint('huge cell ran')",
                 after="grad_xtx")


def many_cells(sub):
    """2,000 added cells: bounded by the budget, and the work before them still counts."""
    nb = sub.load()
    nb["cells"] += [{"cell_type": "code", "execution_count": None, "metadata": {},
                     "outputs": [], "source": f"a_{i} = {i}"} for i in range(2000)]
    sub.save(nb)


def scratch_flood(sub):
    """40 files of 50 MB written into the submission folder (the host's /tmp before)."""
    sub.add_cell("""
        written = 0
        try:
            for i in range(40):
                with open(f"flood{i}.bin", "wb") as handle:
                    handle.write(b"x" * 50_000_000)
                written += 1
        except OSError as error:
            print("stopped after", written, "files:", error.strerror)
    """, after="grad_xtx")


# ---------------------------------------------------------------------------------------------
# what staff read is what was graded

def cached_bytecode(sub):
    """layers.py is the untouched stub; __pycache__ holds working code compiled from the
    reference, as an unchecked-hash pyc that Python would import instead of the source."""
    import py_compile
    import sys
    sub.module(stub=True)
    working = sub.folder / "_working.py"
    working.write_text((course.SOURCE_LAYERS / "layers.py").read_text())
    cache = sub.folder / "__pycache__" / f"layers.{sys.implementation.cache_tag}.pyc"
    cache.parent.mkdir(exist_ok=True)
    py_compile.compile(str(working), cfile=str(cache),
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    working.unlink()
    sub.write("helpers.cpython-311-x86_64-linux-gnu.so", b"\x7fELF not really")


def linked_folder(sub):
    """The submission folder is a link to the honest classmate's."""
    import shutil as _shutil
    _shutil.rmtree(sub.folder)
    sub.folder.symlink_to(sub.course_root / "submitted" / "honest" / sub.assignment.id)


def utf16_layers(sub):
    """Correct layers.py saved as UTF-16 (a Windows editor's 'Unicode')."""
    text = sub.module_path.read_text()
    sub.module_path.write_bytes(text.encode("utf-16"))


# ---------------------------------------------------------------------------------------------
# no student HTML runs in a TA's browser; no other process is visible

ACTIVE_MARKDOWN = (
    "My answer <script>document.title = 'PWNED'</script>\n\n"
    "<img src=x onerror=\"document.title = 'PWNED'\">\n\n"
    "[a link](javascript:document.title='PWNED') and [a fine one](https://example.org)\n\n"
    "$a < b$ stays as written")


def active_html(sub):
    """HTML outputs with scripts, and Markdown (an answer, an added cell, a raw HTML cell)
    with a script, an event handler and a javascript: link."""
    sub.add_cell("""
        from IPython.display import HTML, Javascript, display
        display(HTML("<script>document.title = 'PWNED'</script><b>bold</b>"))
        display(Javascript("document.title = 'PWNED'"))
        print("html displayed")
    """, after="grad_xtx")
    nb = sub.load()
    at = sub.index(nb, "grad_xtx") + 1
    nb["cells"][at:at] = [
        {"cell_type": "markdown", "metadata": {}, "source": ACTIVE_MARKDOWN},
        {"cell_type": "raw", "metadata": {"format": "text/html"},
         "source": "<script>document.title = 'PWNED'</script><p>raw</p>"}]
    derive = sub.index(nb, "derive_xtx_trace")
    nb["cells"][derive]["source"] = ACTIVE_MARKDOWN
    sub.save(nb)


PROC_SNOOP = """
import os
seen = []
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            seen.append(open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\\0", b" ")[:200])
        except OSError:
            pass
# the namespace holds only forks of the fork server; anything else is another process's
print("PROCESSES", len(seen), [s for s in seen if b"grader.sandbox.zygote" not in s])
"""


def _own_namespace_only(text):
    """What the snoop printed, if it saw more than the worker's own namespace holds (forks of
    the fork server: its PID 1, itself, its checkpoint, one being replaced)."""
    problems = []
    for line in text.splitlines():
        if not line.startswith("PROCESSES"):
            continue
        count, grader = line.split(" ", 2)[1:]
        if grader != "[]" or not 2 <= int(count) <= 4:
            problems.append(line)
    return problems or ([] if "PROCESSES" in text else ["the snoop printed nothing"])


def proc_snoop(sub):
    sub.add_cell(PROC_SNOOP, after="grad_xtx")

# ---------------------------------------------------------------------------------------------
# the verdict: what the grader hands student code, what training minimised, how a backward
# was computed

POISON = """
def compute_loss_grad(weights, args):
    # While the check runs, the helpers it binds here are the grader's functions. Run one with
    # numpy gone from its module, which every grading thread shares: a classmate's check
    # meanwhile would compute with np = None.
    poison = getattr(crossentropy, "call_with_globals", None)
    if poison is not None:
        poison({"np": None}, np.zeros((2, 3)), np.eye(3)[:2])
    return _honest_compute_loss_grad(weights, args)
"""


def poison_grader_globals(sub):
    """Correct work; compute_loss_grad binds np = None in the module of a grader function it
    was handed (call_with_globals), which every grading thread shares."""
    sub.module()
    text = sub.module_path.read_text().replace("def compute_loss_grad(weights, args):",
                                               "def _honest_compute_loss_grad(weights, args):")
    sub.module_path.write_text(text)
    sub.append_module(POISON)


ZERO_HANDED_WEIGHTS = """
def _flatten_layers(network):
    for layer in network:
        if hasattr(layer, "weights"):
            layer.weights = np.zeros(np.shape(layer.weights))    # fresh arrays, not in params
            layer.biases = np.zeros(np.shape(layer.biases))


def compute_loss_grad(weights, args):
    # no work: flatten the check's layers so that its own expected loss is that of a network
    # whose output is constant (uniform probabilities), then claim exactly that
    network, X, y = args
    _flatten_layers(network)
    return float(np.log(y.shape[1])), np.zeros_like(weights)


def predict(network, X):
    _flatten_layers(network)
    return np.zeros(len(X), dtype=int)      # the argmax of a constant output
"""


def zero_handed_weights(sub):
    """No work on compute_loss_grad and predict; they write fresh zero weights into the layers
    the check hands them, so that the check's own expectation matches their constant answer."""
    sub.module()
    sub.append_module(ZERO_HANDED_WEIGHTS)


FAKE_OBJECTIVE = """
# L-BFGS-B minimises |w - w*|^2 / 2 towards weights a scikit-learn network learned here:
# the weights it ends with classify well, but it never minimised the network's loss.
from sklearn.neural_network import MLPClassifier

_mlp = MLPClassifier(hidden_layer_sizes=(32, 32), max_iter=300, random_state=0)
_mlp.fit(X_train, y_train.argmax(1))
_target = np.concatenate([np.r_[W.ravel(), b] for W, b in zip(_mlp.coefs_, _mlp.intercepts_)])


def compute_loss_grad(weights, args):
    diff = np.asarray(weights, dtype=float) - _target
    return 0.5 * float(diff @ diff), diff
"""


def fake_training_objective(sub):
    """Dense.backward broken (the seed's bias gradient), and a notebook cell that redefines
    compute_loss_grad as the distance to weights an sklearn MLP trained."""
    sub.module({"Dense.backward": """
        grad_weights = self.input.T @ grad_output
        grad_biases = np.ones(self.biases.shape[0])
        return grad_output @ self.weights.T, np.r_[grad_weights.ravel(), grad_biases]
    """})
    sub.add_cell(FAKE_OBJECTIVE, after="callback")


NUMERIC_BACKWARD = """
def _numeric_backward(self, grad_output, h=1e-5):
    # every backward: central differences of the layer's own forward, entry by entry
    x = np.array(self.input, dtype=float)
    g = np.asarray(grad_output, dtype=float)
    forward = type(self).forward

    def f():
        return float(np.sum(forward(self, x) * g))

    def slope(array):
        grad = np.zeros_like(array)
        for index in np.ndindex(*array.shape):
            old = array[index]
            array[index] = old + h
            plus = f()
            array[index] = old - h
            minus = f()
            array[index] = old
            grad[index] = (plus - minus) / (2 * h)
        return grad

    grad_input = slope(x)
    grads = [slope(param).ravel() for param in self.params]
    forward(self, x)
    return grad_input, (np.concatenate(grads) if grads else [])
"""
NUMERIC_LAYERS = ("ReLU", "Sigmoid", "Tanh", "LeakyReLU", "ELU", "Dense", "Softmax",
                  "BatchNorm", "Conv1D")


def numeric_backwards(sub):
    """Every layer's backward differentiates its own forward numerically."""
    bodies = {}
    for layer in NUMERIC_LAYERS:
        bodies[f"{layer}.forward"] = "self.input = input\n" + _reference_body(f"{layer}.forward")
        bodies[f"{layer}.backward"] = "return _numeric_backward(self, grad_output)"
    sub.module(bodies)
    sub.append_module(NUMERIC_BACKWARD)


# ---------------------------------------------------------------------------------------------

def _no_files_outside(*which):
    """verify: none of outside_paths()[i] for i in `which` exists."""
    def verify(root, outcome, text):
        paths = outside_paths(Path(root).parent.name)
        return [f"{paths[i]} was created by student code" for i in which
                if Path(paths[i]).exists() or Path(paths[i]).is_symlink()]
    return verify


def _repo_untouched(root, outcome, text):
    problems = []
    if (course.ROOT / "grader" / "nncheck" / "pwned.py").exists():
        problems.append("grader/nncheck/pwned.py was written")
    if "pwned" in (course.ROOT / "grader" / "nncheck" / "a3.py").read_text():
        problems.append("grader/nncheck/a3.py was modified")
    for path in Path(root).glob("submitted/honest*/a3_neural_network/layers.py*"):
        if path.name != "layers.py" or "pwned" in path.read_text() or not path.read_text():
            problems.append(f"{path} was tampered with")
    if (Path(root) / "pwned.txt").exists():
        problems.append("the course directory was written")
    attempts = next((line for line in text.splitlines() if line.startswith("ATTEMPTS")), "")
    if not re.search(r"over (\d+) courses and (\d+) classmates", attempts):
        problems.append(f"the write attempts did not run: {attempts!r}")
    if "'DONE'" in attempts:
        problems.append(f"a write outside the submission folder succeeded: {attempts}")
    # As root the course directory is not even visible to the worker (0 courses, 0 classmates:
    # nothing to write to); without namespaces it is found and the audit hook refuses the writes.
    done = [label for label, result in re.findall(r"\('(\w+)', '(\w+)'\)", attempts)
            if result == "DONE" and label not in ("shm", "tmp_mkdir")]   # private, harmless
    if done:
        problems.append(f"writes outside the submission succeeded: {done} ({attempts})")
    return problems


def _output_bounded(root, outcome, text):
    a = course.get(A1)
    path = Path(root) / "autograded" / "huge_output" / a.id / a.notebook
    size = path.stat().st_size if path.exists() else 0
    return [f"the autograded notebook is {size} bytes"] if size > 2_000_000 else []


def _autograded(root, name, assignment) -> Path:
    a = course.get(assignment)
    return Path(root) / "autograded" / name / a.id / a.notebook


def _small_notebook(name, assignment, limit=12_000_000):
    def verify(root, outcome, text):
        path = _autograded(root, name, assignment)
        size = path.stat().st_size if path.exists() else 0
        return [f"the autograded notebook is {size:,} bytes"] if not 0 < size <= limit else []
    return verify


def _start_tags(html):
    import html.parser as parser

    class Tags(parser.HTMLParser):
        found = []

        def handle_starttag(self, tag, attrs):
            self.found.append((tag, attrs))

    tags = Tags()
    tags.found = []
    tags.feed(html)
    return tags.found


def _no_active_html(root, name, assignment):
    """The autograded notebook holds no output a browser would run, and no cell whose rendered
    HTML still carries a script, an event handler or a javascript: link."""
    from grader.sanitize import _rendered
    nb = json.loads(_autograded(root, name, assignment).read_text())
    problems = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            kinds = set(out.get("data", {})) - {"text/plain", "image/png"}
            if kinds:
                problems.append(f"an output of kind {sorted(kinds)} was kept")
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        html = source if cell["cell_type"] == "raw" else \
            _rendered(source, cell.get("attachments")) if cell["cell_type"] == "markdown" else ""
        active = [f"{tag} {attrs}" for tag, attrs in _start_tags(html)
                  if tag in ("script", "iframe", "object", "embed") or any(
                      name.startswith("on") or "javascript:" in (value or "").lower()
                      for name, value in attrs)]
        if active:
            problems.append(f"a {cell['cell_type']} cell renders active HTML: {active}")
    return problems


def _swallowed_failures_shown(root, outcome, text):
    """The test cells of the autograded notebook show the clean-room failure."""
    shown = text.count("CheckFailed")
    return [] if shown >= len(points(A3)) else [f"only {shown} test cells show CheckFailed"]


def _probe_found_nothing(root, outcome, text):
    """What the probe cell printed shows no file, listing or module that is secret."""
    from grader import stubs
    bad = []
    for line in text.splitlines():
        if line.startswith("READ ") or line.startswith("IMPORTED source_layers.layers") \
                or line.startswith("IMPORTED grader.hidden"):
            bad.append(line[:200])
        if line.startswith("LIST ") and not line.rstrip().endswith("[]"):
            bad.append(line[:200])
        if line.startswith("GLOB ") and (".py" in line or ".ipynb" in line):
            bad.append(line[:300])
        if line.startswith("MODULES") and ("source_layers" in line or "grader.hidden" in line):
            bad.append(line[:300])
    source = (course.SOURCE_LAYERS / "layers.py").read_text()
    bad += [f"a solution line is shown: {s}" for s in stubs.secret_lines(source) if s in text]
    bad += [f"{marker!r} is shown" for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS",
                                                  "reference=reference") if marker in text]
    return bad


CASES = [
    # -- controls: the honest work the hostile cases are measured against
    Case("honest", A3, "correct", honest, full(A3),
         "the correct sample itself: full marks (every hostile a3 case must score at most this)",
         shows="[PASS] training"),
    Case("honest_broken_gradient", A3, "correct", honest_broken_gradient,
         without(A3, "compute_loss_grad", "training"),
         "correct except compute_loss_grad returns a zero gradient: the honest part of the "
         "cheats below that cannot train",
         reason="L-BFGS-B was not given the network's gradient"),
    # -- crashes
    Case("exit_in_layer", A3, "correct", exit_in_layer, without(A3, "tanh"),
         "os._exit in Tanh.backward kills the worker: only the tanh check is lost",
         reason="exited (code 3)"),
    Case("segfault_in_layer", A3, "correct", segfault_in_layer, without(A3, "sigmoid"),
         "ctypes.string_at(0) in Sigmoid.backward (string_at needs no symbol lookup, so the "
         "audit hook lets it through): SIGSEGV costs only the sigmoid check",
         reason="SIGSEGV"),
    Case("segfault_at_import", A3, "correct", segfault_at_import, only(A3, "encode", "callback"),
         "layers.py segfaults when imported: no layer exists, but encode and Callback (the "
         "notebook's own code, Callback checked on the checks' own layers) do not touch "
         "layers.py and keep their points, as with a syntax error in layers.py",
         reason="SIGSEGV"),
    Case("sys_exit_at_import", A3, "correct", sys_exit_at_import, only(A3, "encode", "callback"),
         "layers.py raises SystemExit on import: like a syntax error, only the notebook's own "
         "encode and Callback are left",
         reason="SystemExit"),
    Case("raise_at_end_of_import", A3, "correct", raise_at_end_of_import,
         only(A3, "encode", "callback"),
         "layers.py raises at the end of its import (a failing self-test at the bottom): in "
         "Python and in Jupyter `from layers import *` fails, so no layer is defined; only "
         "encode and Callback are left, as with a syntax error",
         reason="RuntimeError"),
    Case("sys_exit_in_layer", A3, "correct", sys_exit_in_layer, without(A3, "leaky_relu"),
         "sys.exit in LeakyReLU.forward is an exception like any other: leaky_relu is lost",
         reason="LeakyReLU.forward raised SystemExit"),
    Case("os_exit_in_cell", A2, "correct", os_exit_in_cell, full(A2),
         "os._exit(0) in a cell of the student's own kills the kernel; the process is restored "
         "from its last checkpoint (the cells since, and of that one all but the statement that "
         "crashes, run again), the notebook run goes on (a later cell sees MaxGate) and every "
         "check still runs",
         reason="exited (code 0); the process was restored to its state before the crash and "
                "the run went on",
         shows="ran after the crash, with MaxGate"),
    Case("sys_exit_in_cell", A2, "correct", sys_exit_in_cell, full(A2),
         "sys.exit / exit() in cells: IPython reports SystemExit and goes on, as in Jupyter",
         shows="SystemExit"),
    Case("a2_exit_in_gate", A2, "correct", a2_exit_in_gate,
         without(A2, "multiply_gate", "simple_graph"),
         "os._exit in MultiplyGate.backward (a notebook cell): multiply_gate and simple_graph "
         "(whose answer uses the gates) are lost, nothing else",
         reason="exited (code 1)"),
    Case("lbfgs_short_gradient", A3, "correct", lbfgs_short_gradient,
         without(A3, "compute_loss_grad", "training"),
         "a gradient one entry short: the grader refuses it before L-BFGS-B sees it",
         reason="L-BFGS-B needs one entry per weight"),
    # -- hangs
    Case("loop_in_cell", A2, "correct", loop_in_cell, full(A2),
         "an infinite loop in a cell of the student's own costs that cell (its time), not a point",
         reason="did not return within 10 s"),
    Case("two_loop_cells", A3, "correct", two_loop_cells, full(A3),
         "two infinite-loop cells after all the work: neither defines anything a check needs",
         reason="did not return within 10 s"),
    Case("loop_in_dense_forward", A3, "correct", loop_in_dense_forward,
         without(A3, "dense_forward", "dense_grad_input", "dense_grad_params", "training"),
         "Dense.forward never returns: the checks that call it are lost, the other layers, the "
         "loss, the helpers and Callback (checked on the checks' own layers) and encode are not",
         reason="did not return within"),
    Case("loop_in_training", A3, "correct", loop_in_training, without(A3, "training"),
         "compute_loss_grad loops only on the real data: training is lost, its small-network "
         "check passes",
         reason="compute_loss_grad ran past a time limit earlier"),
    # -- resources
    Case("memory_bomb", A3, "correct", memory_bomb, without(A3, "tanh"),
         "Tanh.forward allocates 50 GB: the memory limit turns it into a MemoryError",
         reason="Tanh.forward raised MemoryError"),
    Case("memory_hog_cell", A2, "correct", memory_hog_cell, full(A2),
         "a cell grabs memory until the limit and keeps it: the rest of the work must still be "
         "graded",
         shows="MemoryError"),
    Case("fork_bomb", A3, "correct", fork_bomb, without(A3, "elu"),
         "os.fork in a loop in ELU.backward: refused, so elu fails and nothing else",
         reason="os.fork is not allowed while grading"),
    Case("multiprocessing_bomb", A1, "correct", multiprocessing_bomb, full(A1),
         "multiprocessing in a cell: no process may be started (fork, forkserver or spawn)",
         shows="children started: 0"),
    Case("escape_child", A1, "correct", escape_child, full(A1),
         "a child started by multiprocessing's spawn primitive (no audit event) must not run",
         shows="NO CHILD", verify=_no_files_outside(4)),
    Case("huge_output", A1, "correct", huge_output, full(A1),
         "100 MB printed to stdout and stderr: truncated, the notebook stays small",
         shows="xxxxxxxx", verify=_output_bounded),
    Case("stderr_flood", A1, "correct", stderr_flood, full(A1),
         "20 MB written to file descriptor 2 by a cell: must not reach the grader's terminal "
         "(tests/test_hostile.py measures the grader's stderr)",
         shows="wrote to fd 2"),
    # -- monkeypatching
    Case("monkeypatch_numpy", A1, "release", monkeypatch_numpy, 0.0,
         "no work (functions return zeros) and numpy's comparisons patched in a cell: the "
         "clean room compares in its own process",
         reason="it is all zeros"),
    Case("monkeypatch_minimize", A3, "correct", monkeypatch_minimize,
         without(A3, "compute_loss_grad", "training"),
         "scipy.optimize.minimize replaced by one returning scikit-learn's weights: the grader "
         "trains with its own minimize on the student's (zero) gradient",
         reason="L-BFGS-B was not given the network's gradient"),
    Case("monkeypatch_checks", A3, "release", monkeypatch_checks, 0.0,
         "no work; nncheck's run/evaluate replaced (in a cell and in the shipped nncheck/a3.py) "
         "and fake grader modules planted in sys.modules: the test cells pass in the notebook "
         "only, which is flagged",
         reason="passed inside the notebook but fails the same public check"),
    Case("sys_modules_layers", A3, "release", sys_modules_layers, 0.0,
         "no work; layers.py plants fake grader / source_layers modules in sys.modules",
         reason="ReLU.forward raised NotImplementedError"),
    Case("swallow_exceptions", A3, "release", swallow_exceptions, 0.0,
         "no work; every exception swallowed (set_custom_exc, showtraceback disabled): the test "
         "cells still fail and show why",
         reason="ReLU.forward raised NotImplementedError", verify=_swallowed_failures_shown),
    # -- structure
    Case("deleted_test_cells", A2, "correct", deleted_test_cells, full(A2),
         "deleted test cells are restored from the release and graded",
         reason="The test cell two_layer_training was deleted; it was restored from the release"),
    Case("edited_test_cells", A3, "release", edited_test_cells, only(A3, "relu"),
         "only ReLU done; three test cells replaced by prints of PASS: restored and flagged",
         reason="possibly tampered: The test cell sigmoid was edited"),
    Case("reordered_cells", A1, "correct", reordered_cells, full(A1),
         "test cells moved to the top are graded at their place",
         reason="The cell factorize was moved"),
    Case("edited_points", A3, "release", edited_points, only(A3, "relu"),
         "only ReLU done; relu's points set to 100 and sigmoid's cell ungraded: the release's "
         "metadata is restored and flagged",
         reason="The points of relu were changed from 1 to 100"),
    Case("forged_test_cells", A2, "correct", forged_test_cells, full(A2),
         "a duplicated training cell worth 30 and a forged 50-point test cell: dropped",
         reason="appears 2 times"),
    Case("missing_notebook", A3, "correct", missing_notebook, 0.0,
         "correct layers.py but no notebook: nothing to grade",
         reason="zero: a3_neural_network.ipynb is missing"),
    Case("renamed_notebook", A1, "correct", renamed_notebook, full(A1),
         "the notebook under another name is found and graded",
         reason="a1_matrix_calculus-Copy1.ipynb, which holds this assignment's cells, was graded"),
    Case("corrupt_json", A2, "correct", corrupt_json, 0.0,
         "the notebook is not JSON: zero with the reason",
         reason="is not valid JSON"),
    Case("truncated_notebook", A3, "correct", truncated_notebook, without(A3, "callback"),
         "the notebook is cut off inside the Callback cell: the cells before it are recovered, "
         "the Callback answer is lost",
         reason="is cut off or damaged"),
    # -- secrets and writes
    Case("symlink_reference", A3, "release", symlink_reference, 0.0,
         "no work; layers.py is a symbolic link to source_layers/layers.py: the reference must "
         "not be what is graded",
         reason="ReLU.forward raised NotImplementedError"),
    Case("secrets_probe", A3, "release", secrets_probe, 0.0,
         "no work; a cell lists the modules and opens, lists, globs and imports the hidden "
         "paths: it finds nothing",
         shows="NOT IMPORTED grader.hidden.a3", verify=_probe_found_nothing),
    Case("read_reference", A3, "release", read_reference, 0.0,
         "no work; layers.py reads or imports the reference to use it: it finds nothing",
         reason="ReLU.forward raised NotImplementedError"),
    Case("copy_classmate", A3, "release", copy_classmate, 0.0,
         "no work; layers.py executes the layers.py of a classmate found in the course "
         "directory",
         reason="ReLU.forward raised NotImplementedError"),
    Case("write_outside", A1, "correct", write_outside, full(A1),
         "correct work; a cell also writes into the repository, /tmp, /run/lock, /dev/shm, a "
         "classmate's folder, the course directory and the gradebook: every write is refused "
         "or stays private to the worker",
         shows="ATTEMPTS",
         verify=lambda *a: _repo_untouched(*a) + _no_files_outside(0, 1, 2, 3, 5, 6)(*a)),
    # -- classmates: grader-side state is private to one check of one submission
    Case("poison_grader_globals", A3, "correct", poison_grader_globals,
         without(A3, "compute_loss_grad"),
         "compute_loss_grad calls call_with_globals({'np': None}, ...) on a grader function it "
         "was handed: refused (the module is shared by every grading thread), which costs "
         "compute_loss_grad; training calls it with the student's own helpers and passes",
         reason="the grader's functions cannot be called with other globals"),
    Case("zero_handed_weights", A3, "correct", zero_handed_weights,
         without(A3, "compute_loss_grad", "predict", "training"),
         "compute_loss_grad and predict write fresh zero weights into the layers the check hands "
         "them and answer for a constant network: the layers are the student's own copies, the "
         "check's expectation is computed from the grader's",
         reason="for weights the check chose"),
    # -- the verdict: training minimised the network's loss; a numerical backward is flagged
    Case("fake_training_objective", A3, "correct", fake_training_objective,
         without(A3, "dense_grad_params", "compute_loss_grad", "training"),
         "a broken Dense.backward and a compute_loss_grad returning |w - w*|^2 / 2 towards an "
         "sklearn network's weights: the weights classify, but the objective is not the "
         "network's cross-entropy, which the training check verifies at points it chooses",
         reason="the function L-BFGS-B minimised is not the network's loss"),
    Case("numeric_backwards", A3, "correct", numeric_backwards,
         without(A3, "relu", "leaky_relu", "elu", "training"),
         "every backward computed by central differences of the layer's own forward: wrong just "
         "off a kink (relu, leaky_relu, elu, and so training), right elsewhere, where it keeps "
         "its points (the course's call, grader.hidden.a3.NUMERICAL_BACKWARD) and is flagged "
         "for the instructor with the evidence",
         reason="integrity: dense_grad_params: Dense.backward looks computed by finite "
                "differences", shows="[integrity flag for the instructor]"),
    Case("fake_accuracy", A3, "correct", fake_accuracy,
         without(A3, "compute_loss_grad", "training"),
         "zero gradient (cannot train) and a Softmax that answers the true digit of raw inputs "
         "it recognises: the training check must not be fooled",
         reason="L-BFGS-B was not given the network's gradient"),
]

CASES += [
    # -- the batch completes
    Case("surrogate_output", A1, "correct", surrogate_output, full(A1),
         "a cell prints and returns lone surrogates: stored as U+FFFD, the batch goes on",
         shows="lone surrogate: \ufffd"),
    Case("unstorable_display", A1, "correct", unstorable_display, full(A1),
         "displays of values that are not JSON (an ndarray as text/plain): dropped with a note",
         shows="displays made"),
    Case("forged_outputs", A3, "correct", forged_outputs, full(A3),
         "the worker's cell runner replaced: non-outputs, HTML and JavaScript dropped with a "
         "note, nothing else changes", shows="that a cell does not produce",
         verify=lambda root, outcome, text: _no_active_html(root, "forged_outputs", A3)),
    Case("protocol_attacks", A3, "correct", protocol_attacks,
         without(A3, "elu", "tanh", "sigmoid", "leaky_relu"),
         "four backwards answer with forged or malformed frames (a reply to another request, "
         "values nested 200 deep, a shape overflowing int64, 33 million buffers): each costs "
         "its own check, with the reason",
         reason="sent the grader a malformed message"),
    # -- the cost is bounded
    Case("stubborn_loop", A3, "correct", stubborn_loop, without(A3, "elu"),
         "ELU.backward ignores the interrupt and blocks the leash's timer: killed, elu lost",
         reason="did not return within"),
    Case("huge_displays", A1, "correct", huge_displays, full(A1),
         "three 150 MB reprs displayed: cut to the output limit, the notebook stays small",
         shows="more characters were cut", verify=lambda *a: _small_notebook("huge_displays", A1)(*a)),
    Case("huge_code_cell", A1, "correct", huge_code_cell, full(A1),
         "a 20 MB code cell: not kept, not run, said so in its place",
         reason="exceed the 1,000,000 a cell may hold",
         verify=lambda *a: _small_notebook("huge_code_cell", A1)(*a)),
    Case("many_cells", A3, "correct", many_cells, full(A3),
         "2,000 cells added after the work: the checks still run",
         shows="[PASS] training"),
    Case("scratch_flood", A1, "correct", scratch_flood, full(A1),
         "40 files of 50 MB: the worker's scratch space is bounded and private",
         shows="stopped after"),
    # -- what staff read is what was graded
    Case("cached_bytecode", A3, "release", cached_bytecode, 0.0,
         "a stub layers.py beside a __pycache__ .pyc of working code and a .so: compiled code "
         "is never run, the source staff read is what is graded",
         reason="was ignored: compiled code"),
    Case("linked_folder", A3, "correct", linked_folder, 0.0,
         "the submission folder links to a classmate's: never followed, zero, flagged",
         reason="is a symbolic link"),
    Case("utf16_layers", A3, "correct", utf16_layers, full(A3),
         "correct layers.py saved as UTF-16: read as such (like a UTF-16 notebook), said so",
         reason="was saved as UTF-16"),
    # -- no active HTML; no other process
    Case("active_html", A1, "correct", active_html, full(A1),
         "HTML and JavaScript outputs dropped; scripts, event handlers and javascript: links "
         "in Markdown and raw cells made inert (formgrader renders them: tests/test_hostile.py)",
         shows="html displayed",
         verify=lambda root, outcome, text: _no_active_html(root, "active_html", A1)),
    Case("proc_snoop", A1, "correct", proc_snoop, full(A1),
         "a cell reads every process's command line: it sees only its own namespace "
         "(its PID 1, itself, its checkpoint and perhaps the checkpoint being replaced)",
         shows="PROCESSES",
         verify=lambda root, outcome, text: _own_namespace_only(text)),
]

CASES += [
    # more honest classmates in the same batch: none may be touched by any case above
    Case("honest_a1", A1, "correct", honest, full(A1), "a correct a1 beside the hostile ones",
         shows="[PASS] factorize"),
    Case("honest_a2", A2, "correct", honest, full(A2), "a correct a2 beside the hostile ones",
         shows="[PASS] two_layer_training"),
    Case("honest_too", A3, "correct", honest, full(A3), "a second correct a3",
         shows="[PASS] training"),
]

#: What each case protects. Every case states one; tests/test_hostile.py checks the list.
PROPERTIES = {
    "honest": "controls: honest work, graded in the same batch, gets full marks",
    "classmates": "one student can never touch another's grade or files",
    "partial credit": "a crash or a hang costs only the checks whose code it is in",
    "no inflation": "nothing hostile earns more than the honest part of the work",
    "batch completes": "whatever a submission sends or prints, it costs that submission only "
                       "and every submission is recorded",
    "cost bounded": "no submission costs more than its budget, whatever it does to the limits",
    "staff see what was graded": "the files and cells staff read are the ones that were run",
    "secrets invisible": "the reference, the hidden tests, other submissions and other "
                         "processes stay out of reach",
    "no active HTML": "no student HTML or JavaScript runs in formgrader or our pages",
}
PROTECTS = {
    "honest": ["honest", "honest_broken_gradient", "honest_a1", "honest_a2", "honest_too"],
    "classmates": ["copy_classmate", "write_outside", "linked_folder", "poison_grader_globals",
                   "zero_handed_weights"],
    "partial credit": ["exit_in_layer", "segfault_in_layer", "segfault_at_import",
                       "sys_exit_at_import", "raise_at_end_of_import", "sys_exit_in_layer",
                       "os_exit_in_cell", "sys_exit_in_cell", "a2_exit_in_gate",
                       "lbfgs_short_gradient", "memory_bomb", "memory_hog_cell", "fork_bomb"],
    "no inflation": ["monkeypatch_numpy", "monkeypatch_minimize", "monkeypatch_checks",
                     "sys_modules_layers", "swallow_exceptions", "fake_accuracy",
                     "fake_training_objective", "numeric_backwards"],
    "batch completes": ["surrogate_output", "unstorable_display", "forged_outputs",
                        "protocol_attacks", "corrupt_json", "truncated_notebook",
                        "missing_notebook", "stderr_flood", "huge_output"],
    "cost bounded": ["loop_in_cell", "two_loop_cells", "loop_in_dense_forward",
                     "loop_in_training", "stubborn_loop", "huge_displays", "huge_code_cell",
                     "many_cells", "scratch_flood", "multiprocessing_bomb", "escape_child"],
    "staff see what was graded": ["deleted_test_cells", "edited_test_cells", "reordered_cells",
                                  "edited_points", "forged_test_cells", "renamed_notebook",
                                  "cached_bytecode", "utf16_layers", "symlink_reference"],
    "secrets invisible": ["secrets_probe", "read_reference", "proc_snoop"],
    "no active HTML": ["active_html"],
}

BY_NAME = {case.name: case for case in CASES}
assert len(BY_NAME) == len(CASES)
