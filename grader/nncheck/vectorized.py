"""Assignment 2, section 4: vectors and matrices without the Jacobian: f = ||W x||^2 staged,
and the matrix multiply's backward, at the lecture's numbers and at random shapes."""
from __future__ import annotations

import numpy as np

from .gradcheck import numerical_gradient
from .graphs import compare
from .results import call, check, count, failed, need, passed
from .validate import number, parts


LECTURE_W = ((0.1, 0.5), (-0.3, 0.8))
LECTURE_X = (0.2, 0.4)
NORM_CASES = ((None, {"W": LECTURE_W, "x": LECTURE_X}), (0, {"m": 3, "n": 5}),
              (1, {"m": 4, "n": 4}))


def _norm_point(seed, dims):
    if seed is None:
        return np.array(dims["W"], dtype=float), np.array(dims["x"], dtype=float)
    rng = np.random.default_rng(seed)
    return rng.normal(size=(dims["m"], dims["n"])), rng.normal(size=dims["n"])


@check("backprop_normWx", cases=NORM_CASES)
def check_backprop_normWx(namespace, cases=None, *, name):
    """normWx_backprop(W, x) -> (f, grad_W, grad_x) for f = ||W x||^2."""

    def f(W, x):
        return float(np.sum((W @ x) ** 2))

    fn = need(namespace, "normWx_backprop")
    for seed, dims in cases:
        W, x = _norm_point(seed, dims)
        what = f"normWx_backprop(W {W.shape[0]}x{W.shape[1]}, x of {x.size})"
        value, grad_W, grad_x = parts(what, call(what, fn, W.copy(), x.copy()), 3)
        value = number(what + " (f)", value)
        if not np.isclose(value, f(W, x), rtol=1e-9, atol=1e-12):
            return failed(name, f"{what} gives f = {value:.6g}, but ||W x||^2 = "
                                f"{f(W, x):.6g}")
        for var, got, point in (("W", grad_W, W), ("x", grad_x, x)):
            numeric = numerical_gradient(
                lambda p: f(p, x) if var == "W" else f(W, p), point.copy())
            got = np.asarray(got, dtype=float)
            message = compare(f"{what}: grad_{var}", got, numeric)
            if message:
                return failed(name, message)
    return passed(name, f"f, grad_W and grad_x right on {count(len(cases), 'input')}")


# The lecture's matrix-multiply example: x [N x D], w [D x M], dL/dy [N x M]
LECTURE_MATMUL = {"x": ((2, 1, -3), (-3, 4, 2)),
                  "w": ((3, 2, 1, -1), (2, 1, 3, 2), (3, 2, 1, -2)),
                  "grad_y": ((2, 3, -3, 9), (-8, 1, 4, 6))}
MATMUL_CASES = ((None, LECTURE_MATMUL), (0, {"N": 3, "D": 4, "M": 4}),
                (1, {"N": 2, "D": 2, "M": 2}))


def _matmul_point(seed, dims):
    if seed is None:
        return tuple(np.array(dims[k], dtype=float) for k in ("x", "w", "grad_y"))
    rng = np.random.default_rng(seed)
    N, D, M = dims["N"], dims["D"], dims["M"]
    return rng.normal(size=(N, D)), rng.normal(size=(D, M)), rng.normal(size=(N, M))


@check("matmul_grad_{var}", cases=MATMUL_CASES)
def check_matmul(var, namespace, cases=None, *, name):
    """matmul_backward(x, w, grad_y) -> (grad_x, grad_w) for y = x @ w; `var` is x or w."""
    fn = need(namespace, "matmul_backward")
    for seed, dims in cases:
        x, w, grad_y = _matmul_point(seed, dims)
        what = (f"matmul_backward(x {x.shape[0]}x{x.shape[1]}, w {w.shape[0]}x{w.shape[1]}, "
                f"grad_y {grad_y.shape[0]}x{grad_y.shape[1]})")
        grads = parts(what, call(what, fn, x.copy(), w.copy(), grad_y.copy()), 2)
        got = np.asarray(grads[0] if var == "x" else grads[1], dtype=float)
        point = x if var == "x" else w

        def loss(p):    # L with dL/dy = grad_y: L = sum(grad_y * y)
            return float(np.sum(grad_y * ((p @ w) if var == "x" else (x @ p))))

        message = compare(f"{what}: grad_{var}", got, numerical_gradient(loss, point.copy()))
        if message:
            return failed(name, message)
    return passed(name, f"dL/d{var} right on {count(len(cases), 'input')}")
