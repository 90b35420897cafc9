"""Assignment 2, section 3: the sigmoid neuron as "flat" backprop code, staged as the lecture
stages it (L, the gradient at the sigmoid's input, then the gradients of w and x), at the
lecture's point and at random ones (where a hard-coded answer fails)."""
from __future__ import annotations

import numpy as np

from .gradcheck import numerical_gradient
from .graphs import compare, derivative, sigmoid
from .results import call, check, count, failed, need, passed
from .validate import array, number, parts


LECTURE_NEURON = {"w": (2.0, -3.0, -3.0), "x": (-1.0, -2.0)}
NEURON_CASES = ((None, LECTURE_NEURON),)


def _neuron_point(seed, values):
    if values is not None:
        return np.array(values["w"], dtype=float), np.array(values["x"], dtype=float)
    rng = np.random.default_rng(seed)
    return rng.normal(scale=1.5, size=3), rng.normal(scale=1.5, size=2)


def _s3(w, x):
    return w[0] * x[0] + w[1] * x[1] + w[2]


def _neuron(w, x):
    return float(sigmoid(_s3(w, x)))


LECTURE_ONLY = ("; these are the lecture's numbers, right at its point only: compute them "
                "from w and x")


def _is_lecture_answer(L, grad_s3):
    """Whether an answer at another point is the lecture's own (hard-coded) numbers."""
    w, x = (np.array(LECTURE_NEURON[k]) for k in ("w", "x"))
    s3 = _s3(w, x)
    try:
        return bool(np.isclose(float(L), _neuron(w, x)) and
                    np.isclose(float(grad_s3), derivative(sigmoid, s3), rtol=1e-3))
    except (TypeError, ValueError):
        return False


def _neuron_call(fn, w, x):
    what = f"neuron_flat(w={np.round(w, 4).tolist()}, x={np.round(x, 4).tolist()})"
    return what, parts(what, call(what, fn, w.copy(), x.copy()), 4)


def _forward_problem(what, w, x, answer, lecture):
    """What is wrong with L, the neuron's output; None if nothing."""
    L, want = number(what + " (L)", answer[0]), _neuron(w, x)
    if np.isclose(L, want, rtol=1e-9, atol=1e-12):
        return None
    hint = ""
    if np.isclose(L, float(sigmoid(w[0] * x[0] + w[1] * x[1]))):
        hint = ": the bias w2 is missing from s3 = s2 + w2"
    elif lecture:
        hint = LECTURE_ONLY
    return (f"{what} gives L = {L:.6g}, but 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) = {want:.6g}"
            + hint)


def _local_problem(what, w, x, answer, lecture):
    """What is wrong with grad_s3, the gradient at the sigmoid's input; None if nothing."""
    grad_s3 = number(what + " (grad_s3)", answer[1])
    s3 = _s3(w, x)
    want = derivative(sigmoid, s3)
    if np.isclose(grad_s3, want, rtol=1e-6, atol=1e-9):
        return None
    hint = ""
    if np.isclose(grad_s3, (1 - s3) * s3):
        hint = ": it is written with s3 where the output L belongs, (1 - L) L"
    elif lecture:
        hint = LECTURE_ONLY
    return (f"{what} gives grad_s3 = {grad_s3:.6g}, but the sigmoid's slope at s3 = {s3:.4g} "
            f"is {want:.6g} (upstream gradient 1 times the local gradient of the sigmoid, "
            "written with its output L)" + hint)


def _gradients_problem(what, w, x, answer, lecture):
    """What is wrong with grad_w or grad_x, and why when a known slip explains it; None if
    nothing. A wrong grad_s3 is named as the cause: the gradients below s3 inherit it."""
    slope = derivative(sigmoid, _s3(w, x))
    own = number(what + " (grad_s3)", answer[1])
    for var, got, point in (("w", answer[2], w), ("x", answer[3], x)):
        got = array(f"{what} (grad_{var})", got, point.shape)
        numeric = numerical_gradient(
            lambda p: _neuron(p, x) if var == "w" else _neuron(w, p), point.copy())
        message = compare(f"{what}: grad_{var}", got, numeric)
        if not message:
            continue
        if not np.isclose(own, slope, rtol=1e-6, atol=1e-9):
            return (f"{what}: grad_{var} is built on grad_s3 = {own:.6g}, which is not the "
                    f"sigmoid's slope {slope:.6g} (check neuron_local_grad): fix grad_s3 first; "
                    "the gradients below it are grad_s3 times the local gradients of the add "
                    "and multiply gates")
        upstream = own * np.array([x[0], x[1], 1.0] if var == "w" else [w[0], w[1]])
        swapped = own * np.array([w[0], w[1], 1.0] if var == "w" else [x[0], x[1]])
        if np.allclose(got, swapped) and not np.allclose(got, upstream):
            message += ("; the multiply gates swap: dL/dw0 = grad_s3 * x0 and "
                        "dL/dx0 = grad_s3 * w0")
        elif var == "w" and np.isclose(got[2], 1.0) and np.allclose(got[:2], upstream[:2]):
            message += "; dL/dw2 = grad_s3 (the add gate passes the upstream gradient on), not 1"
        elif lecture or np.allclose(got, np.round(numeric, 2)):
            message += ("; these are the lecture's table, rounded: compute the gradients from "
                        "w, x and grad_s3")
        return message
    return None


NEURON_PARTS = {"forward": _forward_problem, "local_grad": _local_problem,
                "gradients": _gradients_problem}


@check("neuron_{part}", cases=NEURON_CASES)
def check_neuron(part, namespace, cases=None, *, name):
    """neuron_flat(w, x) -> (L, grad_s3, grad_w, grad_x) for L = sigmoid(w0 x0 + w1 x1 + w2).

    `part` is "forward" (L), "local_grad" (grad_s3, the gradient at the sigmoid's input:
    upstream 1 times the sigmoid's local gradient) or "gradients" (grad_w and grad_x)."""
    problem_of = NEURON_PARTS[part]
    fn = need(namespace, "neuron_flat")
    for seed, values in cases:
        w, x = _neuron_point(seed, values)
        what, answer = _neuron_call(fn, w, x)
        lecture = values is None and _is_lecture_answer(answer[0], answer[1])
        problem = problem_of(what, w, x, answer, lecture)
        if problem:
            return failed(name, problem)
    return passed(name, f"right at {count(len(cases), 'point')}")
