"""Name the well-known mistake behind a wrong gradient, when the numbers show one."""
from __future__ import annotations

import numpy as np

from .gradcheck import close


def _factor(actual, expected):
    """The c with actual ~= c * expected, if there is one (least squares, then verified)."""
    denominator = float(np.sum(expected * expected))
    if denominator == 0.0:
        return None
    c = float(np.sum(actual * expected)) / denominator
    return c if close(actual, c * expected, rtol=1e-3, atol=1e-5) else None


def diagnose(actual, expected, batch=None):
    """A one-line hint for common wrong gradients, or '' when nothing familiar fits."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if actual.shape != expected.shape:
        if actual.T.shape == expected.shape and close(actual.T, expected):
            return "it is the transpose of the right gradient"
        return ""
    if not np.all(np.isfinite(actual)):
        return "it contains nan or inf: look for an overflow (exp of a large number, log of 0)"
    if np.all(actual == 0) and np.any(expected != 0):
        return "it is all zeros: is the gradient ever written, or multiplied by a zero mask?"
    if np.all(actual == 1) and not np.all(expected == 1):
        return "it is all ones: the local derivative was not multiplied by grad_output"
    if actual.ndim == 2 and actual.shape[0] == actual.shape[1] and close(actual.T, expected) \
            and not close(actual, expected):
        return "it is the transpose of the right gradient"
    factor = _factor(actual, expected)
    if factor is not None and not np.isclose(factor, 1.0):
        if np.isclose(factor, -1.0):
            return "it has the wrong sign"
        if batch and (np.isclose(factor, batch) or np.isclose(factor, 1.0 / batch)):
            return (f"it is off by a factor of {factor:.4g}, the batch size: "
                    "check where you sum and where you average over the batch")
        return f"it is off by a constant factor of {factor:.4g}"
    return ""


def explain(what, index, actual, expected, hint=""):
    """'what[i, j] is 0.5 but the numerical gradient is 0.7 (hint)'."""
    where = f"[{', '.join(map(str, index))}]" if index else ""
    text = (f"{what}{where} is {float(actual[index]):.6g} but the numerical gradient is "
            f"{float(expected[index]):.6g}")
    return f"{text}; {hint}" if hint else text


def _same(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(all="ignore"):
        return a.shape == b.shape and bool(np.all(np.isfinite(b))) and close(a, b)


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def spec_hint(spec, part, analytic, numeric, x=None, upstream=None, flat=None):
    """A hint for a well-known wrong backward of one course layer: `part` is "input" (the
    grad_input) or a parameter's name; '' when no familiar mistake fits.

    Each recognises the mistake by recomputing what it gives from the case's input and
    upstream gradient, never by comparing with the right answer's formula."""
    g, name = upstream, spec.name
    if part == "input" and x is not None and g is not None:
        if name == "ReLU" and _same(analytic, g * (x <= 0)):
            return "the mask is inverted: the gradient passes where the input was positive"
        if name == "LeakyReLU" and _same(analytic, g * (x > 0)):
            return ("for negative inputs the derivative is the slope, not 0: pass "
                    "slope * grad_output there")
        if name == "ELU" and _same(analytic, g * np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))):
            return "for x <= 0 the derivative is alpha * exp(x): alpha is missing"
        if name == "Sigmoid" and _same(analytic, g * x * (1 - x)):
            return ("it is written with the input x where the sigmoid's output belongs: "
                    "sigma'(x) = sigma(x) (1 - sigma(x)), so store the output in forward")
        if name == "Tanh" and _same(analytic, g * (1 - x ** 2)):
            return ("it is written with the input x where tanh(x) belongs: "
                    "tanh'(x) = 1 - tanh(x)^2, so store the output in forward")
        if name == "Softmax":
            p = _softmax(x)
            if _same(analytic, g):
                return ("it returns grad_output unchanged: every output of log-softmax depends "
                        "on every input of its row, which adds the term "
                        "- softmax(x) * (sum of grad_output over the row)")
            if _same(analytic, g - p):
                return ("it is G - P, right only when every row of G sums to 1 (as the "
                        "cross-entropy's gradient times -B does); for any upstream G it is "
                        "G - P * (sum of G over the row)")
            if _same(analytic, g - p * g) or _same(analytic, g * (1 - p)):
                return ("the sum over the row is missing: the term is softmax(x) times the "
                        "row's sum of grad_output, not times grad_output itself")
        if name == "BatchNorm":
            return _batchnorm_hint(analytic, x, g)
    if part in ("biases", "beta", "bias") and _same(analytic, np.ones_like(analytic)) \
            and not _same(numeric, np.ones_like(numeric)):
        return ("the bias gradient is not ones: dL/db is grad_output summed over the batch "
                "(axis 0)")
    if part == "weights" and flat is not None and x is not None and g is not None:
        rows, columns = np.shape(numeric)
        if rows != columns and _same(np.reshape(flat, (columns, rows)).T, numeric):
            return ("dL/dW has the transposed layout: grad_output.T @ input is "
                    "[output_units, input_units] and, raveled, has the right size but not the "
                    "right order; weights are [input_units, output_units], like input.T @ G")
    if part == "kernel" and _same(np.asarray(analytic)[::-1], numeric):
        return "the kernel gradient is reversed: dL/dk_m pairs grad_output with x shifted by m - t"
    return ""


def _batchnorm_hint(analytic, x, g, eps=1e-5):
    """BatchNorm's input gradient without the batch statistics' terms, recognised up to the
    per-column factor gamma."""
    if len(x) < 2:
        return ""
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    known = ((g * inv_std, "the terms of the batch mean and variance are missing: in training "
                           "mode both depend on every input of the column"),
             ((g - g.mean(axis=0)) * inv_std,
              "the variance term is missing: the batch variance depends on every input too, "
              "which adds - x_hat * mean(G * x_hat) (times gamma / std)"))
    return next((text for candidate, text in known
                 if _column_factor(analytic, candidate) is not None), "")


def _column_factor(actual, candidate):
    """Per-column c with actual ~= candidate * c (gamma), if there is one."""
    with np.errstate(all="ignore"):
        denominator = np.sum(candidate * candidate, axis=0)
        if np.any(denominator == 0):
            return None
        c = np.sum(actual * candidate, axis=0) / denominator
    return c if close(actual, candidate * c, rtol=1e-3, atol=1e-5) else None
