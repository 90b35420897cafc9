"""Assignment 1's checks: derivatives of scalar functions of vectors and matrices.

The oracle is always the numerical gradient of the function being differentiated (the function
itself is part of the task statement, the derivative is not), taken on random inputs of several
shapes. Every task is tried on a non-square shape, where a transposed answer has the wrong
shape, and on a square one, where it has the right shape but the wrong values.

A case is ``(seed, dims)``: the seed of the random inputs and the sizes of the task's
dimensions (``{"n": 4, "m": 3}``). The public cases are the ones a student sees fail; the hidden
tests pass more cases (other seeds, shapes and edge sizes) to the same checks.

Conventions (the notebook states them): vectors are 1-D arrays, and the derivative of a scalar
with respect to a variable is returned with the variable's own shape (the gradient).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gradcheck import numerical_gradient, worst_entry
from .hints import diagnose, explain
from .results import StudentError, call, check, count, failed, need, passed, quiet
from .validate import floats


def shape_text(shape):
    return "x".join(map(str, shape)) if len(shape) > 1 else f"vector of {shape[0]}"


def shape_message(what, got, expected, variable, numeric):
    """Why a returned gradient of the wrong shape is wrong, with the transpose hint."""
    text = (f"{what} returned shape {got.shape}, but the gradient w.r.t. {variable} must have "
            f"{variable}'s shape {expected}")
    if len(expected) == 1 and got.size == expected[0]:
        return text + f": return a 1-D array like {variable}, not a {got.shape} column or row"
    hint = diagnose(got, numeric)
    return f"{text}; {hint}" if hint else text


@dataclass(frozen=True)
class Derivative:
    """One derivative task: the student's function, what it differentiates and how."""

    fn: str                  # the student's function
    args: tuple              # its argument names, in call order
    wrt: str                 # the argument the derivative is taken with respect to
    shapes: object           # dims -> {argument: shape}
    f: object                # the scalar function of the arguments (the task statement)
    formula: str             # for messages
    cases: tuple             # the public cases ((seed, dims), ...)
    mistakes: tuple = ()     # (wrong scalar function, hint): an answer that is its gradient
    #                          made that known mistake


@check("{task.fn}", cases=lambda task, **_: task.cases)
def check_derivative(task, namespace, cases=None, *, name):
    """The student's derivative against the numerical gradient of `task.f` on every case."""
    fn = need(namespace, task.fn)
    for seed, dims in cases:
        rng = np.random.default_rng(seed)
        shapes = task.shapes(**dims)
        arrays = {a: rng.normal(size=shapes[a]) for a in task.args}
        where = ", ".join(f"{a}: {shape_text(shapes[a])}" for a in task.args)
        what = f"{task.fn}({', '.join(task.args)})"
        try:
            got = floats(what, call(what, fn, *[arrays[a].copy() for a in task.args]))
        except StudentError as error:
            raise _shapes_hint(error, task, shapes)
        variable = arrays[task.wrt]
        numeric = numerical_gradient(lambda v: task.f(**{**arrays, task.wrt: v}),
                                     variable.copy())
        if got.shape != variable.shape:
            return failed(name, shape_message(what, got, variable.shape, task.wrt, numeric)
                          + f" (with {where})", dims=dims, seed=seed)
        index, bad = worst_entry(got, numeric)
        if bad > 1:
            hint = _known_mistake(task, arrays, got) or diagnose(got, numeric)
            return failed(name, explain(f"d({task.formula})/d{task.wrt}: {what}", index,
                                        got, numeric, hint) + f" (with {where})",
                          dims=dims, seed=seed, index=index)
    return passed(name, f"d({task.formula})/d{task.wrt} matches the numerical gradient "
                        f"on {count(len(cases), 'shape')}", cases=len(cases))


def _shapes_hint(error, task, shapes):
    """A product of mismatched shapes, raised on a non-square case: say how to find it."""
    text = str(error)
    if getattr(error, "raised", ("",))[0] == "ValueError" and any(
            word in text for word in ("matmul", "aligned", "broadcast", "shapes")):
        where = ", ".join(f"{a}: {shape_text(shapes[a])}" for a in task.args)
        error.args = (f"{text} (with {where}); the factors' shapes do not match: write the "
                      f"shape of each factor next to it; the result must have {task.wrt}'s "
                      f"shape {shape_text(shapes[task.wrt])}",)
    return error


def _known_mistake(task, arrays, got):
    """The hint of the task's known mistake whose gradient `got` is, if any."""
    for wrong, hint in task.mistakes:
        numeric = numerical_gradient(lambda v: wrong(**{**arrays, task.wrt: v}),
                                     arrays[task.wrt].copy())
        if got.shape == numeric.shape and worst_entry(got, numeric)[1] <= 1:
            return hint
    return ""


def _quadform(X, W, grad_Q):
    """L = sum_i grad_Q[i] * Q_i with Q_i = x_i^T W^T W x_i (x_i the rows of X)."""
    return float(np.sum(grad_Q * np.sum((X @ W.T) ** 2, axis=1)))


def _quadform_ignoring_upstream(X, W, grad_Q):
    return _quadform(X, W, np.ones_like(grad_Q))


_UPSTREAM = ((_quadform_ignoring_upstream,
              "it ignores the upstream gradient: row i's gradient is scaled by grad_Q[i] "
              "(dL/dQ_i), as the chain rule multiplies the local gradient by it"),)


# The tasks, in notebook order. Each public case list has a non-square shape first (a
# transposed answer then fails on its shape) and a square one (it fails on its values).
TASKS = {
    "grad_xtx": Derivative(
        "grad_xtx", ("x",), "x", lambda n: {"x": (n,)},
        lambda x: float(x @ x), "x^T x",
        ((0, {"n": 5}), (1, {"n": 1}))),
    "grad_trace_AB": Derivative(
        "grad_trace_AB", ("A", "B"), "A", lambda n, m: {"A": (n, m), "B": (m, n)},
        lambda A, B: float(np.trace(A @ B)), "tr(AB)",
        ((0, {"n": 3, "m": 5}), (1, {"n": 4, "m": 4}))),
    "grad_xAc_x": Derivative(
        "grad_xAc_x", ("x", "A", "c"), "x", lambda n, m: {"x": (n,), "A": (n, m), "c": (m,)},
        lambda x, A, c: float(x @ A @ c), "x^T A c",
        ((0, {"n": 4, "m": 3}), (1, {"n": 3, "m": 3}))),
    "grad_xAc_A": Derivative(
        "grad_xAc_A", ("x", "A", "c"), "A", lambda n, m: {"x": (n,), "A": (n, m), "c": (m,)},
        lambda x, A, c: float(x @ A @ c), "x^T A c",
        ((0, {"n": 4, "m": 3}), (1, {"n": 3, "m": 3}))),
    "grad_normWx_W": Derivative(
        "grad_normWx_W", ("W", "x"), "W", lambda m, n: {"W": (m, n), "x": (n,)},
        lambda W, x: float(np.sum((W @ x) ** 2)), "||W x||^2",
        ((0, {"m": 3, "n": 5}), (1, {"m": 4, "n": 4}))),
    "grad_normWx_x": Derivative(
        "grad_normWx_x", ("W", "x"), "x", lambda m, n: {"W": (m, n), "x": (n,)},
        lambda W, x: float(np.sum((W @ x) ** 2)), "||W x||^2",
        ((0, {"m": 3, "n": 5}), (1, {"m": 4, "n": 4}))),
    "quadform_grad_x": Derivative(
        "quadform_grad_x", ("X", "W", "grad_Q"), "X",
        lambda b, m, n: {"X": (b, n), "W": (m, n), "grad_Q": (b,)},
        _quadform, "sum_i grad_Q[i] x_i^T W^T W x_i",
        ((0, {"b": 4, "m": 2, "n": 3}), (1, {"b": 3, "m": 3, "n": 3})), _UPSTREAM),
    "quadform_grad_W": Derivative(
        "quadform_grad_W", ("X", "W", "grad_Q"), "W",
        lambda b, m, n: {"X": (b, n), "W": (m, n), "grad_Q": (b,)},
        _quadform, "sum_i grad_Q[i] x_i^T W^T W x_i",
        ((0, {"b": 4, "m": 2, "n": 3}), (1, {"b": 3, "m": 3, "n": 3})), _UPSTREAM),
    "factorization_grad_A": Derivative(
        "grad_J_A", ("X", "A", "S"), "A",
        lambda N, M, R: {"X": (N, M), "A": (N, R), "S": (R, M)},
        lambda X, A, S: float(np.sum((X - A @ S) ** 2)), "||X - A S||_F^2",
        ((0, {"N": 5, "M": 4, "R": 2}), (1, {"N": 3, "M": 3, "R": 3}))),
    "factorization_grad_S": Derivative(
        "grad_J_S", ("X", "A", "S"), "S",
        lambda N, M, R: {"X": (N, M), "A": (N, R), "S": (R, M)},
        lambda X, A, S: float(np.sum((X - A @ S) ** 2)), "||X - A S||_F^2",
        ((0, {"N": 5, "M": 4, "R": 2}), (1, {"N": 3, "M": 3, "R": 3}))),
}


# ---------------------------------------------------------------- matrix factorization
N_ITER = 1000          # the iteration budget the check gives factorize
THRESHOLD = 1e-3       # required ||X - A S||_F^2 / ||X||_F^2 after N_ITER iterations
FACTORIZE_CASES = ((0, {"N": 20, "M": 15, "R": 3}), (1, {"N": 10, "M": 30, "R": 2}))


def low_rank(seed, N, M, R):
    """X = A0 S0 / sqrt(R) with standard normal factors: rank R, entries of order 1."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, R)) @ rng.normal(size=(R, M)) / np.sqrt(R)


def _factorize(fn, what, X, R, n_iter, seed):
    with quiet(fn):    # a loop that prints every loss
        return call(what, fn, X.copy(), R, n_iter, seed=seed)


def _factors(what, result, N, M, R):
    if not (isinstance(result, (tuple, list)) and len(result) >= 2):
        raise StudentError(f"{what} must return (A, S, losses), got {type(result).__name__}")
    A, S = floats(what + " (A)", result[0]), floats(what + " (S)", result[1])
    if A.shape != (N, R) or S.shape != (R, M):
        raise StudentError(f"{what} returned A of shape {A.shape} and S of shape {S.shape}; "
                           f"for X of shape {(N, M)} and rank {R} they must be {(N, R)} and "
                           f"{(R, M)}")
    return A, S


def relative_loss(X, A, S):
    with np.errstate(all="ignore"):
        return float(np.sum((X - A @ S) ** 2) / np.sum(X ** 2))


@check("factorize", cases=FACTORIZE_CASES)
def check_factorize(namespace, cases=None, n_iter=N_ITER, threshold=THRESHOLD, *, name):
    """factorize(X, rank, n_iter, seed) -> (A, S, losses): the check measures the loss itself.

    With n_iter=0 it must return its starting point (gradient descent, not a closed form);
    with the budget it must reach `threshold` on grader-generated low-rank matrices.
    """
    fn = need(namespace, name)
    for seed, dims in cases:
        N, M, R = dims["N"], dims["M"], dims["R"]
        X = low_rank(seed, N, M, R)
        what = f"factorize(X, rank={R}, n_iter=0, seed={seed + 1})"
        A, S = _factors(what, _factorize(fn, what, X, R, 0, seed + 1), N, M, R)
        start = relative_loss(X, A, S)
        if not np.isfinite(start) or start <= threshold:
            return failed(name, f"{what} must return the random starting point before any "
                                "gradient step, but its loss is already "
                                f"{start:.3g} of ||X||^2: initialize A and S randomly "
                                "(a zero start never moves) and do not solve in closed form")
        what = f"factorize(X, rank={R}, n_iter={n_iter}, seed={seed + 1})"
        A, S = _factors(what, _factorize(fn, what, X, R, n_iter, seed + 1), N, M, R)
        loss = relative_loss(X, A, S)
        if not np.isfinite(loss):
            return failed(name, f"{what} diverged: ||X - A S||^2 is not finite (a step too "
                                "large, or a step up the gradient instead of down)", dims=dims)
        if loss > threshold and np.isclose(loss, start, rtol=1e-12, atol=0):
            return failed(name, f"{what} did not move from its starting point (loss "
                                f"{loss:.3g} of ||X||^2): with A = 0 and S = 0 both "
                                "gradients are 0, so start from small random factors",
                          dims=dims, loss=loss)
        if loss > threshold:
            return failed(name, f"{what} on a rank-{R} matrix of shape {(N, M)} reaches "
                                f"||X - A S||_F^2 / ||X||_F^2 = {loss:.3g}, above the "
                                f"required {threshold:g} (starting from {start:.3g}): check "
                                "grad_J_A and grad_J_S, update both factors, and choose a "
                                "step size that neither diverges nor crawls", dims=dims,
                          loss=loss)
    return passed(name, f"reaches {threshold:g} within {n_iter} iterations on "
                        f"{count(len(cases), 'matrix', 'matrices')}", cases=len(cases))
