"""Numerical gradients and their comparison: small pure functions, float64 throughout."""
from __future__ import annotations

import numpy as np

H = 1e-5        # central-difference step; truncation error ~ h^2, round-off ~ eps / h
RTOL = 1e-4     # comfortably above the ~1e-8 error of a correct float64 gradient
ATOL = 1e-6     # relative to the gradient's own scale (see `mismatch`)


def numerical_gradient(f, x, h=H):
    """d f / d x by central differences, one entry at a time; f returns a scalar.

    Entry by entry (not column by column) so it is right for layers that mix the rows of a
    batch, such as BatchNorm. `x` is perturbed in place and restored.
    """
    x = np.asarray(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        old = x[index]
        x[index] = old + h
        plus = float(f(x))
        x[index] = old - h
        minus = float(f(x))
        x[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


def directional_derivative(f, x, direction, h=H):
    """d/dt f(x + t v) at t = 0: one pair of evaluations checks a whole gradient along v."""
    x = np.asarray(x, dtype=np.float64)
    return (float(f(x + h * direction)) - float(f(x - h * direction))) / (2 * h)


def directional_agrees(f, x, analytic, rng, directions=3, h=H):
    """Does `analytic` match f's slope along a few random unit directions? 2 * `directions`
    evaluations instead of 2 per entry; a wrong gradient survives only if its error is
    orthogonal to every direction (probability 0). Callers fall back to `numerical_gradient`
    to say *which* entry is wrong."""
    x = np.asarray(x, dtype=np.float64)
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != x.shape or not np.all(np.isfinite(analytic)):
        return False
    scale = max(float(np.linalg.norm(analytic)), 1.0)
    for _ in range(directions):
        v = rng.normal(size=x.shape)
        v /= np.linalg.norm(v) or 1.0
        slope = directional_derivative(f, x, v, h)
        if abs(slope - float(np.sum(analytic * v))) > ATOL * scale + RTOL * abs(slope):
            return False
    return True


def checked_gradient(f, x, analytic, rng):
    """(index, badness, numeric): agreement by directional derivatives when possible, else the
    entry-by-entry numerical gradient that locates the worst entry (None when they agree)."""
    if directional_agrees(f, x, analytic, rng):
        return (), 0.0, None
    numeric = numerical_gradient(f, np.array(x, dtype=np.float64))
    index, bad = worst_entry(analytic, numeric)
    return index, bad, numeric


def rel_error(a, b):
    """CS231n's max relative error, max |a - b| / max(|a| + |b|, 1e-8)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


def mismatch(actual, expected, rtol=RTOL, atol=ATOL):
    """Per-entry badness |a - e| / (atol * scale + rtol * |e|); > 1 means wrong.

    The absolute part scales with the largest expected entry, so an entry that should be ~0
    is judged against the gradient's size rather than against finite-difference noise.
    """
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    return np.abs(actual - expected) / (atol * scale + rtol * np.abs(expected))


def worst_entry(actual, expected, rtol=RTOL, atol=ATOL):
    """(index, badness) of the worst entry; badness <= 1 everywhere means they agree."""
    bad = mismatch(actual, expected, rtol, atol)
    bad = np.where(np.isnan(bad), np.inf, bad)
    if bad.size == 0:
        return (), 0.0
    index = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return tuple(int(i) for i in index), float(bad[index])


def close(actual, expected, rtol=RTOL, atol=ATOL):
    return worst_entry(actual, expected, rtol, atol)[1] <= 1.0
