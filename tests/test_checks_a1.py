"""Assignment 1's checks: correct derivatives pass every check (public and hidden cases), missing
ones fail cleanly, and each realistic wrong answer fails exactly the checks that name it."""
import numpy as np
import pytest

from grader.hidden import a1 as hidden
from grader.nncheck import a1, calculus


# ------------------------------------------------------------------- correct answers
def grad_xtx(x):
    return 2 * x


def grad_trace_AB(A, B):
    return B.T


def grad_xAc_x(x, A, c):
    return A @ c


def grad_xAc_A(x, A, c):
    return np.outer(x, c)


def grad_normWx_W(W, x):
    return 2 * np.outer(W @ x, x)


def grad_normWx_x(W, x):
    return 2 * W.T @ (W @ x)


def quadform_grad_x(X, W, grad_Q):
    return 2 * grad_Q[:, None] * (X @ W.T @ W)


def quadform_grad_W(X, W, grad_Q):
    return 2 * W @ (X.T * grad_Q) @ X


def grad_J_A(X, A, S):
    return -2 * (X - A @ S) @ S.T


def grad_J_S(X, A, S):
    return -2 * A.T @ (X - A @ S)


def factorize_in(ns):
    """factorize as a notebook cell defines it: it calls the gradients the notebook defines."""
    def factorize(X, rank, n_iter, seed=0):
        # alternating gradient steps of size 1 / L, L the Lipschitz constant of each gradient
        rng = np.random.default_rng(seed)
        A, S = rng.normal(size=(X.shape[0], rank)), rng.normal(size=(rank, X.shape[1]))
        for _ in range(n_iter):
            A = A - ns["grad_J_A"](X, A, S) / (2 * np.linalg.norm(S, 2) ** 2)
            S = S - ns["grad_J_S"](X, A, S) / (2 * np.linalg.norm(A, 2) ** 2)
        return A, S, []
    return factorize


CORRECT = {name: value for name, value in globals().copy().items()
           if name.startswith(("grad_", "quadform_"))}
SLOW = "factorize"            # a second, not milliseconds: run only where a mutant can reach it
SLOW_USES = {"factorize", "grad_J_A", "grad_J_S"}


def namespace(**overrides):
    ns = {**CORRECT, **overrides}
    ns.setdefault("factorize", factorize_in(ns))
    return ns


def hidden_cases(check_id):
    return tuple(a1.CASES[check_id]) + hidden.EXTRA[check_id]


def failing(ns, ids, hidden_tests):
    return {check_id for check_id in ids
            if not a1.evaluate(check_id, ns, cases=hidden_cases(check_id) if hidden_tests
                               else None).passed}


# ----------------------------------------------------------------------- the basics
@pytest.mark.parametrize("hidden_tests", [False, True], ids=["public", "hidden"])
@pytest.mark.parametrize("check_id", list(a1.CHECKS))
def test_correct_answers_pass(check_id, hidden_tests):
    cases = hidden_cases(check_id) if hidden_tests else None
    result = a1.evaluate(check_id, namespace(), cases=cases)
    assert result.passed, str(result)


def test_hidden_run_raises_nothing_on_correct_answers(capsys):
    hidden.run("grad_trace_AB", namespace())
    assert "[PASS] grad_trace_AB" in capsys.readouterr().out


def test_registry_matches_hidden_cases():
    assert set(a1.CHECKS) == set(a1.CASES) == set(hidden.EXTRA)
    for check_id, cases in hidden.EXTRA.items():
        seeds = {seed for seed, _ in cases}
        assert len(cases) >= 3 and not seeds & {seed for seed, _ in a1.CASES[check_id]}


def test_public_and_hidden_cases_include_nonsquare_and_square_shapes():
    for check_id, task in calculus.TASKS.items():
        for cases in (task.cases, hidden_cases(check_id)):
            shapes = [task.shapes(**dims)[task.wrt] for _, dims in cases]
            if len(shapes[0]) == 2:
                assert any(s[0] != s[1] for s in shapes) and any(s[0] == s[1] > 1
                                                                 for s in shapes), check_id


@pytest.mark.parametrize("check_id", [c for c in a1.CHECKS if c != SLOW])
def test_missing_function_fails_with_its_name(check_id):
    result = a1.evaluate(check_id, {})
    assert not result.passed and "is not defined" in result.message


def _stub(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("check_id", list(a1.CHECKS))
def test_stubs_fail_cleanly(check_id):
    ns = {name: _stub for name in namespace()}
    result = a1.evaluate(check_id, ns)
    assert not result.passed and "NotImplementedError" in result.message


def test_run_raises_assertion_with_the_message():
    with pytest.raises(AssertionError, match="grad_xtx"):
        a1.run("grad_xtx", namespace(grad_xtx=lambda x: x), quiet=True)


# ------------------------------------------------------------- the notebook and its sample
def test_notebook_has_one_test_cell_per_check_and_the_sample_names_real_cells():
    from grader import course, notebooks
    from grader.nncheck import cells
    from grader.samples import a1 as sample

    nb = notebooks.load(course.get("a1_matrix_calculus").source_dir / "a1_matrix_calculus.ipynb")
    tests = [cells.meta(c)["grade_id"] for c in nb["cells"] if cells.is_test(c)]
    assert sorted(tests) == sorted(a1.CHECKS)
    assert all(1 <= p <= 3 for p in cells.test_points(nb).values())
    solutions = {cells.meta(c)["grade_id"] for c in nb["cells"]
                 if cells.meta(c).get("solution") and c["cell_type"] == "code"}
    assert set(sample.BUGGY_CELLS) <= solutions
    assert sample.BUGGY_LOSES <= set(tests) and sample.BUGGY_MODULES == {}


