"""Assignment 2, section 5: the multiclass SVM loss, naive and vectorized. The loss is itself
the task, so properties pin it down (W = 0 gives C - 1, samples built with one known violated
margin, the regularizer's contribution); its gradient is compared with the numerical gradient
of the student's own loss."""
from __future__ import annotations

import numpy as np

from .gradcheck import numerical_gradient, worst_entry
from .graphs import compare
from .results import call, check, count, failed, need, passed
from .validate import array, number, parts


SVM_CASES = ((0, {"N": 8, "D": 5, "C": 4}), (1, {"N": 6, "D": 3, "C": 3}))
SVM_REG = 0.1


def svm_data(seed, N, D, C):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(D, C)), rng.normal(size=(N, D)), rng.integers(0, C, size=N)


def _svm_call(fn, fn_name, W, X, y, reg):
    what = f"{fn_name}(W {W.shape[0]}x{W.shape[1]}, X {X.shape[0]}x{X.shape[1]}, y, reg={reg:g})"
    loss, dW = parts(what, call(what, fn, W.copy(), X.copy(), y.copy(), reg), 2)
    return what, number(what + " (loss)", loss), dW


def _one_margin_t(seed, N, C):
    """The t_i of `_one_margin` (its draws replayed)."""
    rng = np.random.default_rng(seed + 7919)
    rng.integers(0, C, size=N)
    t = rng.uniform(-3, 2, size=N)
    return np.where(np.abs(t + 1) < 0.2, t + 0.5, t)


def _one_margin(seed, N, C):
    """Samples x_i = e_i (so scores are the rows of W) with a single margin that can be violated:
    s_(y_i) = b_i, s_(j_i) = b_i + t_i for one other class, every other class b_i - 5."""
    rng = np.random.default_rng(seed + 7919)
    y = rng.integers(0, C, size=N)
    t = rng.uniform(-3, 2, size=N)
    t = np.where(np.abs(t + 1) < 0.2, t + 0.5, t)     # stay off the hinge
    W = np.zeros((N, C))
    for i in range(N):
        base = rng.normal()
        other = (y[i] + 1 + rng.integers(0, C - 1)) % C
        W[i] = base - 5.0
        W[i, y[i]] = base
        W[i, other] = base + t[i]
    return W, np.eye(N), y, float(np.mean(np.maximum(0.0, t + 1.0)))


@check("svm_{variant}_loss", cases=SVM_CASES)
def check_svm_loss(variant, namespace, cases=None, *, name):
    """The loss of svm_loss_<variant>(W, X, y, reg) -> (loss, dW), pinned down by three
    properties."""
    fn_name = f"svm_loss_{variant}"

    fn = need(namespace, fn_name)
    for seed, dims in cases:
        N, D, C = dims["N"], dims["D"], dims["C"]
        W, X, y = svm_data(seed, N, D, C)
        what, loss, _ = _svm_call(fn, fn_name, np.zeros_like(W), X, y, 0.5)
        if not np.isclose(loss, C - 1, rtol=1e-9):
            return failed(name, f"{what} with W = 0 gives loss {loss:.6g}: every score is 0, "
                                f"so each sample has C - 1 = {C - 1} margins of exactly 1 and "
                                f"the loss must be {C - 1} (sum over j != y_i only; mean "
                                "over the samples)")
        W1, X1, y1, want = _one_margin(seed, N, C)
        what, loss, _ = _svm_call(fn, fn_name, W1, X1, y1, 0.0)
        if not np.isclose(loss, want, rtol=1e-9, atol=1e-12):
            t = _one_margin_t(seed, N, C)
            swapped = float(np.mean((C - 2) * 6.0 + np.maximum(0.0, 1.0 - t)))
            hint = (": the margins are reversed; the margin of class j is s_j - s_(y_i) + 1 "
                    "(a wrong class scoring close to the right one costs), not "
                    "s_(y_i) - s_j + 1" if np.isclose(loss, swapped) else "")
            return failed(name, f"{what} is {loss:.6g} on samples whose scores are known "
                                f"(one class at s_(y_i) + t_i, the others at s_(y_i) - 5), "
                                f"where the loss is mean_i max(0, t_i + 1) = {want:.6g}"
                                + hint)
        _, plain, _ = _svm_call(fn, fn_name, W, X, y, 0.0)
        what, loss, _ = _svm_call(fn, fn_name, W, X, y, SVM_REG)
        want = SVM_REG * float(np.sum(W * W))
        if not np.isclose(loss - plain, want, rtol=1e-8, atol=1e-12):
            return failed(name, f"{what} - loss at reg=0 is {loss - plain:.6g}, but the "
                                f"regularization reg * sum(W**2) is {want:.6g}")
    return passed(name, f"loss right on {count(len(cases), 'data set')}")


@check("svm_{variant}_grad", cases=SVM_CASES)
def check_svm_grad(variant, namespace, cases=None, *, name):
    """dW of svm_loss_<variant>(W, X, y, reg) against the numerical gradient of its own loss,
    and the regularizer's part of it (2 reg W)."""
    fn_name = f"svm_loss_{variant}"

    fn = need(namespace, fn_name)
    for seed, dims in cases:
        W, X, y = svm_data(seed, dims["N"], dims["D"], dims["C"])
        what, _, dW = _svm_call(fn, fn_name, W, X, y, SVM_REG)
        dW = array(what + " (dW)", dW, W.shape)
        _, _, plain = _svm_call(fn, fn_name, W, X, y, 0.0)
        plain = array(what + " (dW)", plain, W.shape)
        index, bad = worst_entry(dW - plain, 2 * SVM_REG * W)
        if bad > 1:
            return failed(name, f"{what}: dW minus dW at reg=0 should be the gradient of "
                                f"reg * sum(W**2), 2 * reg * W; entry {list(index)} is "
                                f"{(dW - plain)[index]:.6g} instead of "
                                f"{2 * SVM_REG * W[index]:.6g}")
        numeric = numerical_gradient(
            lambda V: _svm_call(fn, fn_name, V, X, y, SVM_REG)[1], W.copy())
        message = compare(f"{what}: dW", dW, numeric, " (numerical gradient of your loss)")
        if message:
            rows = np.arange(len(X))
            raw = X @ W
            active = (raw - raw[rows, y][:, None] + 1 > 0).astype(float)
            active[rows, y] = 0.0
            if np.allclose(dW, X.T @ active / len(X) + 2 * SVM_REG * W):
                message += ("; the correct class's column is missing: every violated margin "
                            "also lowers s_(y_i), so column y_i gets -x_i once per violation")
            return failed(name, message)
    return passed(name, f"dW matches the numerical gradient on {count(len(cases), 'data set')}")
