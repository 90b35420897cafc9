"""Assignment 1's mutation tests: realistic wrong answers, each failing exactly the checks
that name it (public cases and hidden cases) with a message that names the mistake (NEEDLES).
The correct answers and the helpers are test_checks_a1.py's."""
import numpy as np

from grader.nncheck import a1

from . import mutation

from .test_checks_a1 import (SLOW, SLOW_USES, failing, grad_J_A, grad_J_S, hidden_cases,
                             namespace)

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


# mutant -> what its messages must say: the mistake, not only where
NEEDLES = {
    'xtx_missing_factor_2': 'factor of 0.5',
    'xtx_column_vector': 'return a 1-D array like x',
    'trace_untransposed': 'transpose of the right gradient',
    'trace_returns_A_transposed': "must have A's shape",
    'xAc_x_transposed_A': "the factors' shapes do not match",
    'xAc_A_transposed_outer': 'transpose of the right gradient',
    'xAc_A_seed_row_vector_notation': 'transpose of the right gradient',
    'normWx_W_missing_factor_2': 'factor of 0.5',
    'normWx_W_transposed': 'transpose of the right gradient',
    'normWx_x_W_WT': "the factors' shapes do not match",
    'normWx_x_missing_factor_2': 'factor of 0.5',
    'quadform_x_ignores_upstream': 'ignores the upstream gradient',
    'quadform_x_W_WT': "the factors' shapes do not match",
    'quadform_W_ignores_upstream': 'ignores the upstream gradient',
    'quadform_W_missing_W': "must have W's shape",
    'J_A_wrong_sign': 'wrong sign',
    'J_A_missing_factor_2': 'factor of 0.5',
    'J_S_seed_003': "the factors' shapes do not match",
    'factorize_zero_start': 'start from small random factors',
    'factorize_only_A': 'update both factors',
    'factorize_ascent': 'diverged',
    'factorize_step_too_small': 'choose a step size',
    'factorize_closed_form_svd': 'do not solve in closed form',
}


def reachable(overrides):
    return [c for c in a1.CHECKS if c != SLOW or overrides.keys() & SLOW_USES]


(test_mutant_fails_exactly_its_checks, test_mutant_message_names_the_mistake,
 test_every_mutant_has_its_hint_and_every_check_a_mutant,
 test_check_py_estimate_is_the_autograde_score) = mutation.tests(
    a1, MUTANTS, NEEDLES, namespace, failing, hidden_cases, reachable, "a1_matrix_calculus")
