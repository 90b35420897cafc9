"""What a student's function returned, validated before anything is compared with it: a
number, an array of numbers (of a shape), a tuple of so many values. A value that is not what
the task asks for raises a StudentError that names the call, so a check compares only values
of the right kind and its failure says what was returned instead.
"""
from __future__ import annotations

import numpy as np

from .results import StudentError


def converted(value, convert, problem):
    """convert(value), or a StudentError saying problem() (what is wrong with `value`, worded
    only when it is) when it cannot be converted."""
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise StudentError(problem()) from None


def _floats(value):
    return np.asarray(value, dtype=float)


def number(what, value):
    """A float: what a scalar answer (a loss, a gate's output) must be."""
    return converted(value, float, lambda: f"{what} must be a number, got "
                                           f"{type(value).__name__} of shape {np.shape(value)}")


def floats(what, value):
    """An array of floats of any shape, whose shape the caller judges (a1's derivatives)."""
    return converted(value, _floats, lambda: f"{what} must return a numpy array of numbers, "
                                             f"got {type(value).__name__}")


def array(what, value, shape, gradient=True):
    """An array of floats of `shape`; a gradient has the shape of its variable."""
    value = converted(value, _floats,
                      lambda: f"{what} must be a numpy array, got {type(value).__name__}")
    if value.shape != tuple(shape):
        raise StudentError(f"{what} has shape {value.shape}, expected {tuple(shape)}"
                           + (" (a gradient has the shape of its variable)" if gradient else ""))
    return value


def layer_array(what, value, shape):
    """What a layer's forward or backward returns: a numpy array of `shape` in float64, as
    returned (the layer contract: no conversion, a batch of one row stays 2-D)."""
    if not isinstance(value, np.ndarray):
        hint = " (does it end without a return?)" if value is None else ""
        raise StudentError(f"{what} must return a numpy array, got {type(value).__name__}{hint}")
    if value.shape != tuple(shape):
        hint = (" (a batch of one row must stay 2-D: avoid squeeze, and index with [:, j])"
                if shape[0] == 1 and value.size == int(np.prod(shape)) else "")
        raise StudentError(f"{what} returned shape {value.shape}, expected {tuple(shape)}{hint}")
    if value.dtype != np.float64:
        raise StudentError(f"{what} returned an array of dtype {value.dtype}; the layers work "
                           "in float64 (numpy's default): do not convert to another dtype")
    return value


def parts(what, value, n):
    """A tuple (or list) of exactly `n` values: what a function returning several must give."""
    if not (isinstance(value, (tuple, list)) and len(value) == n):
        raise StudentError(f"{what} must return a tuple of {n} values, "
                           f"got {type(value).__name__}"
                           + (f" of length {len(value)}" if isinstance(value, (tuple, list))
                              else ""))
    return value
