"""Checks for the loss, the network helpers, the optimizer and training on digits.

A check isolates the piece it names: when `reference` (a namespace of reference functions and
classes) is given, the helpers the student's function calls are swapped for the reference's
while it runs, so a wrong `grad_crossentropy` fails only the crossentropy check, not
`compute_loss_grad` as well.
"""
from __future__ import annotations

import numpy as np

from .gradcheck import checked_gradient, close, numerical_gradient, worst_entry
from .hints import diagnose, explain
from .results import (StudentError, call, call_with_globals, failed, guarded, need, param_ids,
                      passed, set_params)

HELPERS = ("crossentropy", "grad_crossentropy", "get_weights", "set_weights", "forward_pass",
           "predict", "compute_loss_grad")


def isolated(fn, reference, keep):
    """`fn` with the reference's helpers (all but `keep`) bound in its globals while it runs.

    In the clean-room grader `fn` lives in the student process: the helpers stay here and the
    student process calls back for them."""
    if reference is None:
        return fn
    scope = {name: getattr(reference, name) for name in HELPERS
             if name != keep and hasattr(reference, name)}
    remote = getattr(type(fn), "call_with_globals", None)
    if remote is not None:
        return lambda *args, **kwargs: remote(fn, scope, *args, **kwargs)
    return lambda *args, **kwargs: call_with_globals(fn, scope, *args, **kwargs)


class ParamHolder:
    """A stand-in layer that has only `params` (for get/set_weights)."""

    def __init__(self, params):
        self.params = params
        self.training = True


def holders(namespace, arrays_per_layer):
    """Param-only layers living where the student's code runs (so in-place writes are seen)."""
    make = getattr(namespace, "make_holders", None)
    if make is not None:
        return make(arrays_per_layer)
    return [ParamHolder([np.array(a, dtype=float) for a in arrays]) for arrays in arrays_per_layer]


def _logprobs(rng, batch=6, classes=4):
    logits = rng.normal(size=(batch, classes))
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def _onehot(rng, batch=6, classes=4):
    return np.eye(classes)[rng.integers(0, classes, batch)]


def check_crossentropy(namespace, reference=None, seed=0, points=0.0):
    name = "crossentropy"

    def body():
        fn = need(namespace, name)
        rng = np.random.default_rng(seed)
        a, t = _logprobs(rng), _onehot(rng)
        value = call(name, fn, a.copy(), t.copy())
        if np.ndim(value) != 0:
            return failed(name, f"crossentropy must return a scalar, got shape {np.shape(value)}")
        value = float(value)
        uniform = float(call(name, fn, np.full((3, 4), np.log(0.25)), np.eye(4)[:3]))
        if not np.isclose(uniform, np.log(4)):
            return failed(name, f"for uniform predictions over 4 classes the loss is log 4 = "
                                f"{np.log(4):.6g}, got {uniform:.6g} (take the mean over the "
                                "batch of -log p[target])")
        doubled = float(call(name, fn, np.vstack([a, a]), np.vstack([t, t])))
        if not np.isclose(doubled, value):
            return failed(name, "the loss must be the mean over the batch, not the sum: "
                                "doubling the batch changed it")
        if reference is not None:
            expected = float(reference.crossentropy(a, t))
            if not np.isclose(value, expected, rtol=1e-9, atol=1e-12):
                return failed(name, f"crossentropy is {value:.6g}, expected {expected:.6g}")
        return passed(name, "loss value is right")

    return guarded(name, points, body)


def check_grad_crossentropy(namespace, reference=None, seed=0, points=0.0):
    name = "grad_crossentropy"

    def body():
        fn = need(namespace, name)
        loss = reference.crossentropy if reference is not None else need(namespace,
                                                                        "crossentropy")
        rng = np.random.default_rng(seed)
        a, t = _logprobs(rng), _onehot(rng)
        grad = call(name, fn, a.copy(), t.copy())
        if not isinstance(grad, np.ndarray) or grad.shape != a.shape:
            return failed(name, f"grad_crossentropy must return an array of shape {a.shape}, "
                                f"got {np.shape(grad)}")
        numeric = numerical_gradient(lambda z: loss(z, t), a.copy())
        index, bad = worst_entry(grad, numeric)
        if bad > 1:
            hint = diagnose(grad, numeric, batch=len(a))
            with np.errstate(all="ignore"):
                if close(grad, -t / np.exp(a)) or close(grad, -t / np.exp(a) / len(a)):
                    hint = ("that is the gradient w.r.t. the probabilities p; the activations "
                            "are log-probabilities, and d(-log p)/d(log p) = -1")
            return failed(name, explain("grad_crossentropy", index, grad, numeric, hint),
                          index=index)
        return passed(name, "gradient matches the numerical gradient of the loss")

    return guarded(name, points, body)


def _small_network(ns, rng, with_dropout=False):
    layers = [call("Dense(4, 5)", need(ns, "Dense"), 4, 5), call("ReLU()", need(ns, "ReLU"))]
    if with_dropout:
        layers.append(call("Dropout(0.5, seed=0)", need(ns, "Dropout"), 0.5, seed=0))
    layers += [call("Dense(5, 3)", need(ns, "Dense"), 5, 3), call("Softmax()", need(ns, "Softmax"))]
    for layer in layers:
        set_params(layer, [rng.normal(size=np.shape(p)) for p in layer.params])
    return layers


def check_weights(namespace, reference=None, seed=0, points=0.0):
    """get_weights flattens in layer and params order; set_weights writes in place."""
    name = "get_weights/set_weights"

    def body():
        get, put = need(namespace, "get_weights"), need(namespace, "set_weights")
        rng = np.random.default_rng(seed)
        shapes = [[(4, 5), (5,)], [], [(5, 3), (3,)], []]
        net = holders(namespace, [[rng.normal(size=s) for s in layer] for layer in shapes])
        ids = [param_ids(layer) for layer in net]
        expected = np.concatenate([np.ravel(p) for layer in net for p in layer.params])
        flat = np.asarray(call("get_weights", isolated(get, reference, "get_weights"), net),
                          dtype=float)
        if flat.shape != expected.shape:
            return failed(name, f"get_weights must return a flat array of {expected.size} "
                                f"entries, got shape {flat.shape}")
        if not np.array_equal(flat, expected):
            return failed(name, "get_weights must concatenate every layer's params, raveled, "
                                "layer by layer and in params order")
        new = rng.normal(size=expected.size)
        call("set_weights", isolated(put, reference, "set_weights"), new.copy(), net)
        if [param_ids(layer) for layer in net] != ids:
            return failed(name, "set_weights replaced the parameter arrays; it must write into "
                                "them in place (param[...] = ...) so layers keep their arrays")
        got = np.concatenate([np.ravel(p) for layer in net for p in layer.params])
        if not np.array_equal(got, new):
            return failed(name, "set_weights did not copy the weights back in get_weights order")
        return passed(name, "weights round-trip in place")

    return guarded(name, points, body)


def check_compute_loss_grad(namespace, reference=None, seed=0, points=0.0):
    """(loss, grad) of the whole network against the loss and its numerical gradient."""
    name = "compute_loss_grad"

    def body():
        fn = need(namespace, name)
        rng = np.random.default_rng(seed)
        ns = reference.__dict__ if reference is not None else namespace
        net = _small_network(ns, rng)
        X, Y = rng.normal(size=(7, 4)), _onehot(rng, 7, 3)
        w0 = np.concatenate([p.ravel() for layer in net for p in layer.params])

        run = isolated(fn, reference, name)

        def evaluate(w):
            result = call(name, run, w.copy(), (net, X, Y))
            if not (isinstance(result, tuple) and len(result) == 2):
                raise StudentError("compute_loss_grad must return a pair (loss, gradient)")
            return result

        loss, grad = evaluate(w0)
        grad = np.asarray(grad, dtype=float)
        if grad.shape != w0.shape:
            return failed(name, f"the gradient must be a flat array of {w0.size} entries "
                                f"(one per weight), got shape {grad.shape}")
        if reference is not None:
            reference.set_weights(w0, net)
            expected = reference.crossentropy(reference.forward_pass(net, X), Y)
            if not np.isclose(float(loss), expected, rtol=1e-9):
                return failed(name, f"loss is {float(loss):.6g}, expected {expected:.6g}")
        index, bad, numeric = checked_gradient(lambda w: evaluate(w)[0], w0.copy(), grad, rng)
        if bad > 1:
            hint = diagnose(grad, numeric)
            sizes = [sum(p.size for p in layer.params) for layer in net]
            if not hint and close(np.concatenate(_reversed_blocks(grad, sizes[::-1])), numeric):
                hint = ("the layers' gradients are in reverse order: backward runs from the "
                        "last layer, but the flat gradient must follow get_weights order")
            return failed(name, explain("compute_loss_grad gradient", index, grad, numeric,
                                        hint), index=index)
        return passed(name, "loss and gradient are right")

    return guarded(name, points, body)


def _reversed_blocks(flat, sizes):
    """Split `flat` by `sizes` and return the blocks in reverse order."""
    blocks, start = [], 0
    for size in sizes:
        blocks.append(flat[start:start + size])
        start += size
    return blocks[::-1]


def check_predict(namespace, reference=None, seed=0, points=0.0):
    """Integer labels of shape [batch], computed in eval mode (Dropout off)."""
    name = "predict"

    def body():
        fn = need(namespace, name)
        rng = np.random.default_rng(seed)
        ns = reference.__dict__ if reference is not None else namespace
        net = _small_network(ns, rng, with_dropout=True)
        X = rng.normal(size=(40, 4))
        labels = call(name, isolated(fn, reference, name), net, X.copy())
        labels = np.asarray(labels)
        if labels.shape != (40,):
            hint = (": did you return the log-probabilities instead of the argmax?"
                    if labels.shape == (40, 3) else "")
            return failed(name, f"predict must return one class label per row, shape (40,), "
                                f"got {labels.shape}{hint}")
        if not np.issubdtype(labels.dtype, np.integer):
            return failed(name, f"predict must return integer labels, got dtype {labels.dtype}")
        for stage in net:                   # eval mode, as predict must use
            stage.training = False
        expected = X
        for layer in net:
            expected = layer.forward(expected)
        expected = expected.argmax(axis=1)
        if not np.array_equal(labels, expected):
            wrong = int(np.sum(labels != expected))
            return failed(name, f"{wrong} of 40 labels differ from the argmax of the network's "
                                "output in eval mode (is Dropout switched off in predict? are "
                                "the labels 0-based?)")
        return passed(name, "labels are right")

    return guarded(name, points, body)


def check_sgd_momentum(namespace, seed=0, points=0.0):
    """Heavy-ball momentum on a quadratic: the iterates follow the docstring's update."""
    name = "sgd_momentum"

    def body():
        fn = need(namespace, name)
        rng = np.random.default_rng(seed)
        A = np.diag(rng.uniform(0.5, 2.0, 4))
        b = rng.normal(size=4)

        def quadratic(x):
            return 0.5 * x @ A @ x - b @ x, A @ x - b

        x0 = rng.normal(size=4)
        seen = []
        result = call(name, fn, quadratic, x0.copy(), lr=0.1, momentum=0.8, maxiter=5,
                      callback=lambda x: seen.append(np.array(x, dtype=float)))
        x, v, expected = x0.copy(), np.zeros(4), []
        for _ in range(5):
            v = 0.8 * v - 0.1 * quadratic(x)[1]
            x = x + v
            expected.append(x)
        if len(seen) != 5:
            return failed(name, f"callback must be called once per iteration (5), "
                                f"was called {len(seen)} times")
        for step, (got, want) in enumerate(zip(seen, expected), 1):
            if not close(got, want, rtol=1e-9, atol=1e-12):
                hint = ""
                if step == 1:
                    hint = " (the first step must be x0 - lr * grad)"
                return failed(name, f"iterate {step} is {np.round(got, 6)}, expected "
                                    f"{np.round(want, 6)}{hint}")
        final = np.asarray(result["x"] if isinstance(result, dict) else result.x)
        if not close(final, expected[-1], rtol=1e-9, atol=1e-12):
            return failed(name, "the returned 'x' is not the last iterate")
        long = call(name, fn, quadratic, x0.copy(), lr=0.1, momentum=0.8, maxiter=300)
        solution = np.linalg.solve(A, b)
        final = np.asarray(long["x"] if isinstance(long, dict) else long.x)
        if not close(final, solution, rtol=1e-5, atol=1e-7):
            return failed(name, "300 iterations did not reach the minimum of a convex quadratic")
        return passed(name, "momentum updates are right")

    return guarded(name, points, body)
