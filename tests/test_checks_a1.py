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


# ---------------------------------------------------------- realistic wrong answers
def _zero_start(X, rank, n_iter, seed=0):
    A, S = np.zeros((X.shape[0], rank)), np.zeros((rank, X.shape[1]))
    for _ in range(n_iter):
        A, S = A - 1e-2 * grad_J_A(X, A, S), S - 1e-2 * grad_J_S(X, A, S)
    return A, S, []


def _only_A(X, rank, n_iter, seed=0):
    rng = np.random.default_rng(seed)
    A, S = rng.normal(size=(X.shape[0], rank)), rng.normal(size=(rank, X.shape[1]))
    for _ in range(n_iter):
        A = A - grad_J_A(X, A, S) / (2 * np.linalg.norm(S, 2) ** 2)
    return A, S, []


def _ascent(X, rank, n_iter, seed=0):
    rng = np.random.default_rng(seed)
    A, S = rng.normal(size=(X.shape[0], rank)), rng.normal(size=(rank, X.shape[1]))
    with np.errstate(all="ignore"):
        for _ in range(n_iter):
            A, S = A + 1e-2 * grad_J_A(X, A, S), S + 1e-2 * grad_J_S(X, A, S)
    return A, S, []


def _crawl(X, rank, n_iter, seed=0):
    rng = np.random.default_rng(seed)
    A, S = rng.normal(size=(X.shape[0], rank)), rng.normal(size=(rank, X.shape[1]))
    for _ in range(n_iter):
        A, S = A - 1e-4 * grad_J_A(X, A, S), S - 1e-4 * grad_J_S(X, A, S)
    return A, S, []


def _svd(X, rank, n_iter, seed=0):
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    return U[:, :rank] * s[:rank], Vt[:rank], []


def _seed_003_grad_S(X, A, S):
    return -2 * (X - A @ S) @ A.T


# name -> (overridden functions, the check ids that must fail with the hidden cases, and the
# ones that must fail with the public cases when that differs)
MUTANTS = {
    "xtx_missing_factor_2": ({"grad_xtx": lambda x: x}, {"grad_xtx"}),
    "xtx_column_vector": ({"grad_xtx": lambda x: 2 * x.reshape(-1, 1)}, {"grad_xtx"}),
    "trace_untransposed": ({"grad_trace_AB": lambda A, B: B}, {"grad_trace_AB"}),
    "trace_returns_A_transposed": ({"grad_trace_AB": lambda A, B: A.T}, {"grad_trace_AB"}),
    "xAc_x_transposed_A": ({"grad_xAc_x": lambda x, A, c: A.T @ c}, {"grad_xAc_x"}),
    "xAc_A_transposed_outer": ({"grad_xAc_A": lambda x, A, c: np.outer(c, x)}, {"grad_xAc_A"}),
    "xAc_A_seed_row_vector_notation": ({"grad_xAc_A": lambda x, A, c: np.outer(x, c).T},
                                       {"grad_xAc_A"}),
    "normWx_W_missing_factor_2": ({"grad_normWx_W": lambda W, x: np.outer(W @ x, x)},
                                  {"grad_normWx_W"}),
    "normWx_W_transposed": ({"grad_normWx_W": lambda W, x: 2 * np.outer(x, W @ x)},
                            {"grad_normWx_W"}),
    "normWx_x_W_WT": ({"grad_normWx_x": lambda W, x: 2 * W @ W.T @ x}, {"grad_normWx_x"}),
    "normWx_x_missing_factor_2": ({"grad_normWx_x": lambda W, x: W.T @ W @ x},
                                  {"grad_normWx_x"}),
    "quadform_x_ignores_upstream": ({"quadform_grad_x": lambda X, W, g: 2 * X @ W.T @ W},
                                    {"quadform_grad_x"}),
    "quadform_x_W_WT": ({"quadform_grad_x": lambda X, W, g: 2 * g[:, None] * (X @ W @ W.T)},
                        {"quadform_grad_x"}),
    "quadform_W_ignores_upstream": ({"quadform_grad_W": lambda X, W, g: 2 * W @ X.T @ X},
                                    {"quadform_grad_W"}),
    "quadform_W_missing_W": ({"quadform_grad_W": lambda X, W, g: 2 * (X.T * g) @ X},
                             {"quadform_grad_W"}),
    "J_A_wrong_sign": ({"grad_J_A": lambda X, A, S: 2 * (X - A @ S) @ S.T},
                       {"factorization_grad_A", "factorize"}),
    "J_A_missing_factor_2": ({"grad_J_A": lambda X, A, S: -(X - A @ S) @ S.T},
                             {"factorization_grad_A"}),
    "J_S_seed_003": ({"grad_J_S": _seed_003_grad_S}, {"factorization_grad_S", "factorize"}),
    "factorize_zero_start": ({"factorize": _zero_start}, {"factorize"}),
    "factorize_only_A": ({"factorize": _only_A}, {"factorize"}),
    "factorize_ascent": ({"factorize": _ascent}, {"factorize"}),
    "factorize_step_too_small": ({"factorize": _crawl}, {"factorize"}),
    "factorize_closed_form_svd": ({"factorize": _svd}, {"factorize"}),
}


@pytest.mark.parametrize("hidden_tests", [False, True], ids=["public", "hidden"])
@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_mutant_fails_exactly_its_checks(mutant, hidden_tests):
    overrides, expected = MUTANTS[mutant]
    ids = [c for c in a1.CHECKS if c != SLOW or overrides.keys() & SLOW_USES]
    got = failing(namespace(**overrides), ids, hidden_tests)
    assert got == expected


def test_failure_names_the_transpose():
    result = a1.evaluate("grad_xAc_A", namespace(grad_xAc_A=lambda x, A, c: np.outer(c, x)))
    assert "transpose" in result.message


def test_failure_names_the_missing_factor():
    result = a1.evaluate("grad_normWx_W",
                         namespace(grad_normWx_W=lambda W, x: np.outer(W @ x, x)))
    assert "factor of 0.5" in result.message


def test_factorize_in_closed_form_is_told_so():
    result = a1.evaluate("factorize", namespace(factorize=_svd))
    assert "closed form" in result.message


# ------------------------------------------------------------- the notebook and its sample
def test_notebook_has_one_test_cell_per_check_and_the_sample_names_real_cells():
    from grader import course, notebooks
    from grader.samples import a1 as sample

    nb = notebooks.load(course.get("a1_matrix_calculus").source_dir / "a1_matrix_calculus.ipynb")
    tests = [notebooks.meta(c)["grade_id"] for c in nb["cells"] if notebooks.is_test(c)]
    assert sorted(tests) == sorted(a1.CHECKS)
    assert all(1 <= p <= 3 for p in notebooks.test_points(nb).values())
    solutions = {notebooks.meta(c)["grade_id"] for c in nb["cells"]
                 if notebooks.meta(c).get("solution") and c["cell_type"] == "code"}
    assert set(sample.BUGGY_CELLS) <= solutions
    assert sample.BUGGY_LOSES <= set(tests) and sample.BUGGY_MODULES == {}


def test_every_check_rejects_some_realistic_wrong_answer():
    caught = set().union(*(expected for _, expected, *_ in MUTANTS.values()))
    assert caught == set(a1.CHECKS)
