"""Assignment 2's checks, one module per section of the notebook: gates.py (gates and the
lecture's first example), neuron.py (staged "flat" backprop), vectorized.py (vectors and
matrices), svm.py (the SVM loss), sigmoid_nets.py (gradient-descent training and backprop in
matrix form); this module holds what they share.

There is no reference implementation. A gradient is compared with the numerical gradient of
the function it differentiates; a forward value with the function as the task states it (the
lecture's formulas, the problem's neuron-by-neuron equations); the SVM loss, which is itself a
task, with properties that pin it down (W = 0 gives C - 1, samples built with one known
violated margin, the regularizer's contribution); training with the loss the check computes
from the returned weights.

A case is ``(seed, dims)``: the seed of the random inputs and the task's sizes (or, for the
lecture's worked examples, ``(None, values)``: the lecture's own numbers). The hidden tests pass
more cases to the same checks.
"""
from __future__ import annotations

import numpy as np

from .gradcheck import worst_entry
from .hints import diagnose, explain


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def derivative(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


def compare(what, got, numeric, where=""):
    """None when `got` matches the numerical gradient, else the failure message."""
    if got.shape != numeric.shape:
        hint = diagnose(got, numeric)
        return (f"{what} has shape {got.shape}, expected {numeric.shape}"
                + (f"; {hint}" if hint else "") + where)
    index, bad = worst_entry(got, numeric)
    if bad > 1:
        return explain(what, index, got, numeric, diagnose(got, numeric)) + where
    return None


def fmt(values):
    return ", ".join(f"{k}={v:.4g}" for k, v in values.items())
