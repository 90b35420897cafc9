"""Data for assignment 3 and the end-to-end check: train the student's network with L-BFGS-B.

The accuracy is measured by this code from the trained weights, not by the student's
`predict`; the objective L-BFGS-B minimised is verified to be the network's cross-entropy and
its gradient at points this code chooses; the digits' pixels come in an order of the check's
own, so a function reading the notebook's global data or network trains the wrong thing.
"""
from __future__ import annotations

import contextvars
import functools

import numpy as np

from . import probes
from .gradcheck import directional_agrees, worst_entry
from .network import (by_reference, eval_labels, isolated, mean_nll, put_weights,
                      run_forward)
from .results import StudentError, call, check, failed, kind, need, passed, set_params
from .validate import converted

HIDDEN = 32
MAXITER = 400
# Chosen from the reference's test accuracy over 40 seeds of the initial weights
# (docs/threshold.md; bench/training_threshold.py reproduces it).
THRESHOLD = 0.90
PIXEL_ORDER_SEED = 64      # the check's own order of the 64 pixels (see `shuffled`)

#: Called with each L-BFGS-B iterate while a training check runs in this context (the
#: self-check's progress bar); nothing in the grader sets it.
ON_ITERATION = contextvars.ContextVar("on_iteration", default=None)


def digits(random_state=0):
    """Digits split as in the assignment: train_test_split(random_state=0), one-hot targets.
    Fresh copies of a split parsed once per process (the CSV cost 60 ms a check, twice a
    submission), so what one caller does to them no other sees."""
    return tuple(array.copy() for array in _digits(random_state))


@functools.lru_cache(maxsize=2)
def _digits(random_state):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=random_state)
    return X_train, X_test, np.eye(10)[y_train], y_test


def pixel_order():
    return np.random.default_rng(PIXEL_ORDER_SEED).permutation(64)


def shuffled(data):
    """The split with its 64 pixel columns in the check's order. With the first layer's
    initial weights permuted alike (`build_network`), training follows exactly the same path
    (X[:, p] W[p] = X W), so the threshold study holds; a function that reads the notebook's
    global X_train instead of its arguments learns pixels in the wrong order."""
    X_train, X_test, Y_train, y_test = data
    order = pixel_order()
    return X_train[:, order], X_test[:, order], Y_train, y_test


def build_network(ns, seed, order=None):
    """64-32-32-10 ReLU network from the classes in `ns`, with grader-chosen weights; with
    `order`, the first layer's rows follow that order of the pixels."""
    sizes = [64, HIDDEN, HIDDEN, 10]
    network = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        network.append(call(f"Dense({n_in}, {n_out})", need(ns, "Dense"), n_in, n_out))
        network.append(call("ReLU()", need(ns, "ReLU")) if i < 2
                       else call("Softmax()", need(ns, "Softmax")))
    rng = np.random.default_rng(seed)
    for k, stage in enumerate(network):
        values = [rng.normal(size=np.shape(p)) * 0.01 if np.ndim(p) == 2
                  else np.zeros(np.shape(p)) for p in stage.params]
        if k == 0 and order is not None and values:
            values[0] = values[0][order]
        set_params(stage, values)
    return network


def flatten(network):
    return np.concatenate([p.ravel() for layer in network for p in layer.params])


def unflatten(weights, network):
    start = 0
    for stage in network:
        values = []
        for array in stage.params:
            size = int(np.size(array))
            values.append(weights[start:start + size].reshape(np.shape(array)))
            start += size
        set_params(stage, values)


def accuracy(network, X, y):
    """Eval-mode forward pass through the layers, argmax, compared with the labels."""
    for stage in network:
        if hasattr(stage, "training"):
            stage.training = False
    out = X
    for stage in network:
        out = call(f"{kind(stage)}.forward", stage.forward, out)
    return float(np.mean(np.asarray(out).argmax(axis=1) == y))


def _layout(network):
    """(layer index, label, parameter name, shape) of a network of course layers."""
    names = {"Dense": ("weights", "biases")}
    found = []
    for i, stage in enumerate(network):
        label = kind(stage)
        shapes = [np.shape(p) for p in stage.params]
        if label == "Dense" and shapes:
            label = f"Dense{tuple(shapes[0])}"
        for name, shape in zip(names.get(kind(stage), [f"params[{j}]" for j in
                                                       range(len(shapes))]), shapes):
            found.append((i, label, name, shape))
    return found


def train(ns, seed=0, maxiter=MAXITER, data=None, reference=None):
    """Train with scipy's L-BFGS-B on the student's compute_loss_grad, on the split with the
    check's pixel order; returns (accuracy, result, verify) where verify() says whether the
    objective was the network's cross-entropy and its gradient ('' if so).

    With `reference`, the accuracy is that of the reference network carrying the student's
    trained weights (the student's forward cannot fake it: it could recognise the test
    digits), and the objective is verified against the reference's loss and gradient."""
    from scipy.optimize import minimize

    X_train, X_test, Y_train, y_test = shuffled(data or digits())
    order = pixel_order()
    network = build_network(ns, seed, order)
    fn = need(ns, "compute_loss_grad")
    data_arg = tuple(by_reference(ns, (X_train, Y_train), "compute_loss_grad"))
    tried = []

    def objective(w):
        result = call("compute_loss_grad", fn, w, (network, *data_arg))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise StudentError("compute_loss_grad must return (loss, gradient)")
        loss, grad = result
        grad = np.asarray(grad, dtype=float)
        if grad.shape != w.shape:
            raise StudentError(f"compute_loss_grad returned a gradient of shape {grad.shape} for "
                               f"{w.size} weights: L-BFGS-B needs one entry per weight")
        if np.ndim(loss) != 0:
            raise StudentError(f"compute_loss_grad returned a loss of shape {np.shape(loss)}: "
                               "L-BFGS-B needs a number")
        if len(tried) < 1000:
            tried.append(w.copy())
        return float(loss), grad

    hook = ON_ITERATION.get()
    start = flatten(network)
    result = minimize(objective, start, method="L-BFGS-B", jac=True, options={"maxiter": maxiter},
                      callback=hook)
    judge = build_network(vars(reference), seed, order) if reference is not None else network
    unflatten(result.x, judge)
    acc = accuracy(judge, X_test, y_test)

    def verify():
        rng = np.random.default_rng(seed + 1)
        points = [("the initial weights", start)]
        if len(tried) > 2:
            points.append(("an iterate L-BFGS-B tried",
                           tried[int(rng.integers(1, len(tried) - 1))]))
        points += [("the weights L-BFGS-B ended with", result.x),
                   ("weights near the end", result.x + 0.01 * rng.normal(size=result.x.size))]
        for what, w in points:
            problem = _verify_point(what, w, objective, network, reference, seed, order,
                                    X_train, Y_train, rng)
            if problem:
                return problem
        return ""

    return acc, result, verify


def _verify_point(what, w, objective, network, reference, seed, order, X, Y, rng):
    """'' when the student's (loss, gradient) at `w` is the network's cross-entropy and its
    gradient, computed here: by the reference (hidden tests), else from the student's layers'
    forward and its slopes along random directions (the public check)."""
    loss, grad = objective(np.array(w))
    if reference is not None:
        ref_net = build_network(vars(reference), seed, order)
        want_loss, want_grad = reference.compute_loss_grad(np.array(w), (ref_net, X, Y))
        index, bad = worst_entry(grad, np.asarray(want_grad, dtype=float))
    else:
        def true_loss(v):
            unflatten(v, network)
            return mean_nll(run_forward(network, X), Y)
        want_loss = true_loss(np.array(w))
        bad = 0.0 if directional_agrees(true_loss, np.array(w), grad, rng) else 2.0
    if not np.isclose(loss, want_loss, rtol=1e-6, atol=1e-9):
        return (f"at {what} compute_loss_grad returned the loss {loss:.6g}, but the network's "
                f"cross-entropy there is {want_loss:.6g}: the function L-BFGS-B minimised is "
                "not the network's loss")
    if bad <= 1:
        return ""
    if reference is None:
        return (f"at {what} the gradient compute_loss_grad returned does not match the slopes "
                "of the network's cross-entropy along random directions: L-BFGS-B was not given "
                "the network's gradient")
    where = probes.locate(_layout(network), index[0])
    return (f"at {what} the gradient compute_loss_grad returned for {where} is "
            f"{grad[index]:.6g}, but the cross-entropy's gradient there is "
            f"{float(np.ravel(want_grad)[index[0]]):.6g}: L-BFGS-B was not given the network's "
            "gradient")


@check("training")
def check_training(namespace, threshold=THRESHOLD, seed=0, reference=None, *, name):
    acc, result, verify = train(namespace, seed, reference=reference)
    facts = dict(accuracy=acc, iterations=int(result.nit))
    problem = verify()
    if problem:
        return failed(name, f"{problem} (after {result.nit} iterations the network reaches "
                            f"{acc:.1%} test accuracy)", **facts)
    if acc < threshold:
        return failed(name, f"after L-BFGS-B ({result.nit} iterations: {result.message}) the "
                            f"network reaches {acc:.1%} test accuracy, below the required "
                            f"{threshold:.0%}: check the gradients (Dense, Softmax, "
                            "grad_crossentropy, compute_loss_grad) with the checks above",
                      **facts)
    return passed(name, f"test accuracy {acc:.1%} after {result.nit} iterations", **facts)


@check("encode")
def check_encode(namespace, *, name):
    """One-hot encoding of labels 0..9: label k sets column k."""
    fn = need(namespace, name)
    labels = np.array([0, 3, 9, 3, 5])
    out = np.asarray(call(name, fn, labels.copy()))
    if out.shape != (5, 10):
        return failed(name, f"encode of 5 labels must have shape (5, 10), got {out.shape}")
    if not np.array_equal(out, np.eye(10)[labels]):
        shifted = np.eye(10)[(labels - 1) % 10]
        hint = (": labels are 0-based, so label k sets column k (not k - 1)"
                if np.array_equal(out, shifted) else "")
        return failed(name, f"encode([0, 3, 9, 3, 5]) is wrong{hint}")
    return passed(name, "one-hot encoding is right")


CALLBACK_SIZES = (64, 12, 10)     # not the notebook's 64-32-32-10: its global network misfits


@check("Callback")
def check_callback(namespace, seed=0, *, name):
    """Callback(network, X_train, y_train, X_test, y_test).call(weights) appends train and test
    accuracy once per call; on a network of the checks' layers (its helpers bound to the
    checks' stand-ins), checked against this module's own accuracy of that network."""
    cls = need(namespace, name)
    X_train, X_test, Y_train, y_test = shuffled(digits())
    Y_test = np.eye(10)[y_test]
    rng = np.random.default_rng(seed)
    oracle = probes.network(CALLBACK_SIZES, rng)
    net = probes.test_network(namespace, oracle)
    data = (X_train[:200], Y_train[:200], X_test[:100], Y_test[:100])
    callback = call("Callback(...)", cls, net, *(a.copy() for a in data))
    size = sum(int(np.size(p)) for layer in oracle for p in layer.params)
    weights = [rng.normal(size=size) * 0.1 for _ in range(3)]
    step = isolated(callback.call, "Callback")
    for w in weights:
        try:
            call("Callback.call", step, w.copy())
        except StudentError as error:
            error.args = (f"{error}{_own_network(net, w)}",)
            raise
        problem = _own_network(net, w)
        if problem:
            return failed(name, f"Callback.call(weights){problem}")
    train_acc = list(getattr(callback, "train_acc", []))
    test_acc = list(getattr(callback, "test_acc", []))
    if len(train_acc) != 3 or len(test_acc) != 3:
        return failed(name, f"after 3 calls train_acc has {len(train_acc)} and test_acc "
                            f"{len(test_acc)} entries; each call must append one to each")
    for i, w in enumerate(weights):
        put_weights(w, oracle)
        want_train = float(np.mean(eval_labels(oracle, data[0]) == data[1].argmax(1)))
        want_test = float(np.mean(eval_labels(oracle, data[2]) == data[3].argmax(1)))
        got = (_number(train_acc[i]), _number(test_acc[i]))
        if not (np.isclose(got[0], want_train) and np.isclose(got[1], want_test)):
            swapped = np.isclose(got[1], want_train) and np.isclose(got[0], want_test)
            return failed(name, f"call {i + 1}: recorded train/test accuracy "
                                f"{got[0]:.3f}/{got[1]:.3f}, expected "
                                f"{want_train:.3f}/{want_test:.3f}"
                                + (": train and test are swapped" if swapped else
                                   " (use the weights passed in, the callback's own "
                                   "network and data, and labels 0..9)"))
    return passed(name, "records train and test accuracy per iteration")


def _own_network(net, weights):
    """'' when the network handed to the Callback carries `weights` (call must set them into
    self.network), else what to fix."""
    held = np.concatenate([np.ravel(p) for layer in net for p in layer.params])
    if np.array_equal(held, weights):
        return ""
    return ("; the network the check gave the Callback does not carry the weights passed to "
            "call: set them into the callback's own network, self.network (the notebook's "
            "global network is another one)")


def _number(value):
    return converted(value, float, lambda: f"train_acc/test_acc must hold numbers, got "
                                           f"{type(value).__name__}")
