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
