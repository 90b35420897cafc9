"""Data for assignment 3 and the end-to-end check: train the student's network with L-BFGS-B.

The accuracy is measured by this code from the trained weights, not by the student's
`predict`, so the training check fails only when the network itself does not learn.
"""
from __future__ import annotations

import functools

import numpy as np

from .results import StudentError, call, failed, guarded, kind, need, passed, set_params

HIDDEN = 32
MAXITER = 400
# Chosen from the reference's test accuracy over 40 seeds of the initial weights
# (docs/threshold.md; bench/training_threshold.py reproduces it).
THRESHOLD = 0.90


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


def build_network(ns, seed):
    """64-32-32-10 ReLU network from the student's classes, with grader-chosen weights."""
    sizes = [64, HIDDEN, HIDDEN, 10]
    network = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        network.append(call(f"Dense({n_in}, {n_out})", need(ns, "Dense"), n_in, n_out))
        network.append(call("ReLU()", need(ns, "ReLU")) if i < 2
                       else call("Softmax()", need(ns, "Softmax")))
    rng = np.random.default_rng(seed)
    for stage in network:
        set_params(stage, [rng.normal(size=np.shape(p)) * 0.01 if np.ndim(p) == 2
                           else np.zeros(np.shape(p)) for p in stage.params])
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


def train(ns, seed=0, maxiter=MAXITER, data=None, reference=None):
    """Train with scipy's L-BFGS-B on the student's compute_loss_grad; returns (acc, result).

    With `reference`, the accuracy is that of the reference network carrying the student's
    trained weights: the student's forward cannot fake it (it could recognise the test digits)."""
    from scipy.optimize import minimize

    X_train, X_test, Y_train, y_test = data or digits()
    network = build_network(ns, seed)
    fn = need(ns, "compute_loss_grad")

    def objective(w):
        result = call("compute_loss_grad", fn, w, (network, X_train, Y_train))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise StudentError("compute_loss_grad must return (loss, gradient)")
        loss, grad = result
        grad = np.asarray(grad, dtype=float)
        if grad.shape != w.shape:
            raise StudentError(f"compute_loss_grad returned a gradient of shape {grad.shape} for "
                               f"{w.size} weights: L-BFGS-B needs one entry per weight")
        return float(loss), grad

    result = minimize(objective, flatten(network), method="L-BFGS-B", jac=True,
                      options={"maxiter": maxiter})
    judge = build_network(vars(reference), seed) if reference is not None else network
    unflatten(result.x, judge)
    return accuracy(judge, X_test, y_test), result


def check_training(namespace, threshold=THRESHOLD, seed=0, points=0.0, reference=None):
    name = "training"

    def body():
        acc, result = train(namespace, seed, reference=reference)
        if acc < threshold:
            return failed(name, f"after L-BFGS-B ({result.nit} iterations: {result.message}) the "
                                f"network reaches {acc:.1%} test accuracy, below the required "
                                f"{threshold:.0%}: check the gradients (Dense, Softmax, "
                                "grad_crossentropy, compute_loss_grad) with the checks above",
                          accuracy=acc, iterations=int(result.nit))
        return passed(name, f"test accuracy {acc:.1%} after {result.nit} iterations",
                      accuracy=acc, iterations=int(result.nit))

    return guarded(name, points, body)


def check_encode(namespace, points=0.0):
    """One-hot encoding of labels 0..9: label k sets column k."""
    name = "encode"

    def body():
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

    return guarded(name, points, body)


def check_callback(namespace, seed=0, points=0.0):
    """Callback(network, X_train, y_train, X_test, y_test).call(weights) appends train and test
    accuracy once per call; checked against this module's own accuracy."""
    name = "Callback"

    def body():
        cls = need(namespace, name)
        X_train, X_test, Y_train, y_test = digits()
        Y_test = np.eye(10)[y_test]
        network = build_network(namespace, seed)
        rng = np.random.default_rng(seed)
        callback = call("Callback(...)", cls, network, X_train[:200], Y_train[:200],
                        X_test[:100], Y_test[:100])
        weights = [rng.normal(size=flatten(network).size) * 0.1 for _ in range(3)]
        for w in weights:
            call("Callback.call", callback.call, w.copy())
        train_acc = list(getattr(callback, "train_acc", []))
        test_acc = list(getattr(callback, "test_acc", []))
        if len(train_acc) != 3 or len(test_acc) != 3:
            return failed(name, f"after 3 calls train_acc has {len(train_acc)} and test_acc "
                                f"{len(test_acc)} entries; each call must append one to each")
        for i, w in enumerate(weights):
            unflatten(w, network)
            want_train = accuracy(network, X_train[:200], Y_train[:200].argmax(1))
            want_test = accuracy(network, X_test[:100], y_test[:100])
            if not (np.isclose(train_acc[i], want_train) and np.isclose(test_acc[i], want_test)):
                return failed(name, f"call {i + 1}: recorded train/test accuracy "
                                    f"{train_acc[i]:.3f}/{test_acc[i]:.3f}, expected "
                                    f"{want_train:.3f}/{want_test:.3f} (use the weights "
                                    "passed in and the callback's own network and data)")
        return passed(name, "records train and test accuracy per iteration")

    return guarded(name, points, body)
