"""Checks for the loss, the network helpers and the optimizer.

A check isolates the function it names, public and hidden alike (so the two agree):

* the network it hands to `compute_loss_grad`, `predict` or a `Callback` is made of the
  checks' own test layers (`probes`), not of the student's course layers, so a bug in Dense
  fails only the Dense checks; its architecture is not the notebook's, so the notebook's global
  `network` cannot stand in for it;
* the helpers the student's function calls by name (`set_weights`, `forward_pass`, `predict`,
  `crossentropy`, ...) are bound, while it runs, to the checks' stand-ins (`STAND_INS`);
* every expected value is computed here, from the checks' own copy of the network.
"""
from __future__ import annotations

import numpy as np

from . import probes
from .gradcheck import close, numerical_gradient, worst_entry
from .hints import diagnose, explain
from .remote import (ProcessFailure, RemoteException, RemoteFunction, RemoteObject,
                     StudentNamespace, call_with_globals)
from .results import (StudentError, call, check, failed, located, need, param_ids, passed,
                      set_params, verdict)


# -- the checks' definitions of the helpers, bound while a student's function runs --------

def mean_nll(activations, target):
    """The loss the course defines: the mean over the batch of -log p[target], for
    log-probabilities `activations` and one-hot `target` (the notebook's formula)."""
    a, t = np.asarray(activations, dtype=float), np.asarray(target, dtype=float)
    return float(-np.einsum("bk,bk->", t, a) / a.shape[0])


def numerical_nll_gradient(activations, target):
    """The gradient of `mean_nll`, by central differences (no formula handed out)."""
    return numerical_gradient(lambda z: mean_nll(z, target),
                              np.array(activations, dtype=float))


def run_forward(layers, X):
    out = X
    for stage in layers:
        out = stage.forward(out)
    return out


def flat_weights(layers):
    arrays = [np.ravel(p) for stage in layers for p in stage.params]
    return np.concatenate(arrays) if arrays else np.zeros(0)


def put_weights(weights, layers):
    """Write a flat vector into the layers' own parameter arrays, in place, in params order."""
    weights, start = np.asarray(weights, dtype=float), 0
    for stage in layers:
        values = []
        for array in stage.params:
            size = int(np.size(array))
            if start + size > weights.size:
                raise ValueError(f"{weights.size} weights for a network of more parameters")
            values.append(weights[start:start + size].reshape(np.shape(array)))
            start += size
        set_params(stage, values)
    if start != weights.size:
        raise ValueError(f"{weights.size} weights for a network of {start} parameters")


def eval_labels(layers, X):
    """Class labels of the network's output in eval mode; the modes are restored after."""
    modes = [stage.training for stage in layers]
    for stage in layers:
        stage.training = False
    try:
        return np.asarray(run_forward(layers, X)).argmax(axis=1)
    finally:
        for stage, mode in zip(layers, modes):
            stage.training = mode


STAND_INS = {"crossentropy": mean_nll, "grad_crossentropy": numerical_nll_gradient,
             "forward_pass": run_forward, "get_weights": flat_weights,
             "set_weights": put_weights, "predict": eval_labels}


def isolated(fn, keep):
    """`fn` with the stand-ins of every helper but `keep` bound in its globals while it runs.

    In the clean-room grader `fn` lives in the student process: the stand-ins stay here and
    the student process calls back for them."""
    scope = {name: helper for name, helper in STAND_INS.items() if name != keep}
    if isinstance(fn, RemoteFunction):
        return lambda *args, **kwargs: fn.call_with_globals(scope, *args, **kwargs)
    return lambda *args, **kwargs: call_with_globals(fn, scope, *args, **kwargs)


def holders(namespace, arrays_per_layer):
    """Param-only layers living where the student's code runs (so in-place writes are seen)."""
    if isinstance(namespace, StudentNamespace):
        return namespace.make_holders(arrays_per_layer)
    return [probes.Probe.holding([np.array(a, dtype=float) for a in arrays])
            for arrays in arrays_per_layer]


def by_reference(namespace, arrays, what):
    """`arrays` as a check passes them to student code (`what`) call after call: in the clean
    room, stand-ins kept in the student process (sent once; each call gets a fresh copy there,
    as by value), else the arrays themselves. A student process that answers with anything but
    one stand-in per array has them sent by value, as before; one that dies or hangs meanwhile
    stops the check, as in `what`."""
    arrays = list(arrays)
    if isinstance(namespace, StudentNamespace):
        try:
            kept = namespace.resident(arrays)
        except Exception as error:      # noqa: BLE001 -- what the student process did
            if isinstance(error, ProcessFailure):
                raise located(what, error) from error
            if not isinstance(error, RemoteException):
                raise
            return arrays
        if isinstance(kept, list) and len(kept) == len(arrays) \
                and all(isinstance(k, RemoteObject) for k in kept):
            return kept
    return arrays


# -- the loss --------------------------------------------------------------------------------

def _logprobs(rng, batch=6, classes=4):
    logits = rng.normal(size=(batch, classes))
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def _onehot(rng, batch=6, classes=4):
    return np.eye(classes)[rng.integers(0, classes, batch)]


@check("crossentropy")
def check_crossentropy(namespace, seed=0, *, name):
    fn = need(namespace, name)
    rng = np.random.default_rng(seed)
    a, t = _logprobs(rng), _onehot(rng)
    value = call(name, fn, a.copy(), t.copy())
    if np.ndim(value) != 0:
        return failed(name, f"crossentropy must return a scalar, got shape {np.shape(value)}")
    value = float(value)
    uniform = float(call(name, fn, np.full((3, 4), np.log(0.25)), np.eye(4)[:3]))
    if np.isclose(uniform, -np.log(4)):
        return failed(name, "the sign is flipped: the loss is the *negative* "
                            "log-likelihood, -log p[target] >= 0 (for uniform predictions "
                            f"over 4 classes log 4 = {np.log(4):.6g}, got {uniform:.6g})")
    if not np.isclose(uniform, np.log(4)):
        return failed(name, f"for uniform predictions over 4 classes the loss is log 4 = "
                            f"{np.log(4):.6g}, got {uniform:.6g} (take the mean over the "
                            "batch of -log p[target])")
    doubled = float(call(name, fn, np.vstack([a, a]), np.vstack([t, t])))
    if not np.isclose(doubled, value):
        return failed(name, "the loss must be the mean over the batch, not the sum: "
                            "doubling the batch changed it")
    expected = mean_nll(a, t)
    if not np.isclose(value, expected, rtol=1e-9, atol=1e-12):
        return failed(name, f"crossentropy is {value:.6g}, expected {expected:.6g} (the mean "
                            "over the batch of -sum_k target_k * activations_k)")
    return passed(name, "loss value is right")


@check("grad_crossentropy")
def check_grad_crossentropy(namespace, seed=0, *, name):
    """Against the numerical gradient of the course's loss (not of the student's own
    crossentropy: a consistent bug in both would pass, and the hidden test would not)."""
    fn = need(namespace, name)
    rng = np.random.default_rng(seed)
    a, t = _logprobs(rng), _onehot(rng)
    grad = call(name, fn, a.copy(), t.copy())
    if not isinstance(grad, np.ndarray) or grad.shape != a.shape:
        return failed(name, f"grad_crossentropy must return an array of shape {a.shape}, "
                            f"got {np.shape(grad)}")
    numeric = numerical_nll_gradient(a, t)
    index, bad = worst_entry(grad, numeric)
    if bad > 1:
        hint = diagnose(grad, numeric, batch=len(a))
        with np.errstate(all="ignore"):
            if close(grad, -t / np.exp(a)) or close(grad, -t / np.exp(a) / len(a)):
                hint = ("that is the gradient w.r.t. the probabilities p; the activations "
                        "are log-probabilities, and d(-log p)/d(log p) = -1")
        if "wrong sign" in hint:
            hint = ("it has the wrong sign: the loss is -mean(sum(target * activations)), "
                    "so raising a target's log-probability lowers it")
        return failed(name, explain("grad_crossentropy", index, grad, numeric, hint),
                      index=index)
    return passed(name, "gradient matches the numerical gradient of the loss")


# -- get_weights / set_weights ---------------------------------------------------------------

@check("get_weights/set_weights")
def check_weights(namespace, seed=0, *, name):
    """get_weights flattens in layer and params order; set_weights writes in place."""
    get, put = need(namespace, "get_weights"), need(namespace, "set_weights")
    rng = np.random.default_rng(seed)
    shapes = [[(4, 5), (5,)], [], [(5, 3), (3,)], []]
    net = holders(namespace, [[rng.normal(size=s) for s in layer] for layer in shapes])
    ids = [param_ids(layer) for layer in net]
    expected = np.concatenate([np.ravel(p) for layer in net for p in layer.params])
    flat = np.asarray(call("get_weights", isolated(get, "get_weights"), net), dtype=float)
    if flat.shape != expected.shape:
        return failed(name, f"get_weights must return a flat array of {expected.size} "
                            f"entries, got shape {flat.shape}")
    if not np.array_equal(flat, expected):
        order = _weights_order(flat, net)
        return failed(name, "get_weights must concatenate every layer's params, raveled, "
                            f"layer by layer and in params order{order}")
    new = rng.normal(size=expected.size)
    call("set_weights", isolated(put, "set_weights"), new.copy(), net)
    if [param_ids(layer) for layer in net] != ids:
        return failed(name, "set_weights replaced the parameter arrays; it must write into "
                            "them in place (param[...] = ...) so layers keep their arrays")
    got = np.concatenate([np.ravel(p) for layer in net for p in layer.params])
    if not np.array_equal(got, new):
        return failed(name, "set_weights did not copy the weights back in get_weights order")
    return passed(name, "weights round-trip in place")


def _weights_order(flat, net):
    """What a wrong get_weights did, when it is one of the usual slips."""
    blocks = [[np.ravel(p) for p in layer.params] for layer in net]
    if np.array_equal(flat, np.concatenate([b for layer in blocks[::-1] for b in layer])):
        return ": the layers are in reverse order (backward's order is not get_weights')"
    if np.array_equal(flat, np.concatenate([b for layer in blocks for b in layer[::-1]])):
        return ": each layer's params are in reverse order (weights before biases)"
    if np.array_equal(flat, np.concatenate([np.ravel(p, order="F") for layer in net
                                            for p in layer.params])):
        return ": the matrices are raveled column by column (ravel() reads rows)"
    return ""


# -- compute_loss_grad -----------------------------------------------------------------------

# A case: (seed, {"batch": rows of X, "sizes": the Affine layers' sizes}); the hidden tests
# add a batch of one row and a deeper network.
NETWORK_CASES = ((0, {"batch": 7, "sizes": (4, 5, 3)}),)


def _network_case(seed, dims):
    rng = np.random.default_rng(seed)
    layers = probes.network(dims["sizes"], rng)
    sizes = dims["sizes"]
    X = rng.normal(size=(dims["batch"], sizes[0]))
    Y = _onehot(rng, dims["batch"], sizes[-1])
    return rng, layers, X, Y


def _loss(layers, weights, X, Y):
    put_weights(weights, layers)
    return mean_nll(run_forward(layers, X), Y)


def _loss_grad_case(namespace, fn, seed, dims):
    """None when compute_loss_grad is right on one case at two weight vectors, else the
    failure."""
    name = "compute_loss_grad"
    rng, oracle, X, Y = _network_case(seed, dims)
    w0 = flat_weights(oracle)
    net = probes.test_network(namespace, oracle)      # params at zero: they must be set
    layout = probes.parameter_names(oracle)
    run = isolated(fn, name)
    for w in (w0, w0 + 0.3 * rng.normal(size=w0.size)):
        result = call(name, run, w.copy(), (net, X.copy(), Y.copy()))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise StudentError("compute_loss_grad must return a pair (loss, gradient)")
        loss, grad = result
        grad = np.asarray(grad, dtype=float)
        if grad.shape != w.shape:
            return failed(name, f"the gradient must be a flat array of {w.size} entries "
                                f"(one per weight, in get_weights order), got shape "
                                f"{grad.shape}")
        expected = _loss(oracle, w, X, Y)
        if np.ndim(loss) != 0 or not np.isclose(float(loss), expected, rtol=1e-8, atol=1e-12):
            hint = ""
            if np.ndim(loss) == 0 and np.isclose(float(loss), _loss(oracle, 0 * w, X, Y)):
                hint = (": it is the loss of the network's previous weights; set the "
                        "weights passed in (set_weights(weights, network)) first")
            return failed(name, f"loss is {np.ravel(loss)[:3]} for weights the check chose, "
                                f"expected {expected:.6g}{hint}")
        numeric = numerical_gradient(lambda v: _loss(oracle, v, X, Y), w.copy())
        index, bad = worst_entry(grad, numeric)
        if bad > 1:
            return failed(name, _gradient_message(grad, numeric, index, oracle, layout,
                                                  seed, dims), index=index)
    return None


@check("compute_loss_grad", cases=NETWORK_CASES)
def check_compute_loss_grad(namespace, cases=None, *, name):
    """(loss, grad) of a network of the checks' layers, at two grader-chosen weight vectors,
    against the loss computed here and its numerical gradient."""
    fn = need(namespace, name)
    return verdict(name, "loss and gradient are right",
                   (_loss_grad_case(namespace, fn, seed, dims) for seed, dims in cases))


def _gradient_message(grad, numeric, index, layers, layout, seed, dims):
    flat_index = index[0]
    sizes = [sum(int(np.size(p)) for p in layer.params) for layer in layers]
    hint = diagnose(grad, numeric)
    if not hint and close(np.concatenate(_reversed_blocks(grad, sizes[::-1])), numeric):
        hint = ("the layers' gradients are in reverse order: backward runs from the last "
                "layer, but the flat gradient must follow get_weights order")
    where = probes.locate(layout, flat_index)
    case = "" if seed == 0 else f", for a batch of {dims['batch']} and layers {dims['sizes']}"
    text = (f"compute_loss_grad gradient for {where} (entry {flat_index} of the flat gradient) "
            f"is {grad[flat_index]:.6g} but the numerical gradient is "
            f"{numeric[flat_index]:.6g}{case}")
    return (f"{text}; {hint}" if hint else text) + (
        " (the check runs compute_loss_grad on a network of its own test layers, with its own "
        "set_weights, forward_pass, crossentropy and grad_crossentropy: only compute_loss_grad "
        "itself is tested)")


def _reversed_blocks(flat, sizes):
    """Split `flat` by `sizes` and return the blocks in reverse order."""
    blocks, start = [], 0
    for size in sizes:
        blocks.append(flat[start:start + size])
        start += size
    return blocks[::-1]


# -- predict ---------------------------------------------------------------------------------

PREDICT_CASES = ((0, {"batch": 40}),)


def _predict_case(namespace, fn, seed, dims):
    """None when predict gives the eval-mode labels on one case, else the failure."""
    name = "predict"
    rng = np.random.default_rng(seed)
    oracle = probes.network((4, 5, 3), rng, middle=probes.Mode)
    net = probes.test_network(namespace, oracle)
    put_weights(flat_weights(oracle), net)
    batch = dims["batch"]
    X = rng.normal(size=(batch, 4))
    labels = np.asarray(call(name, isolated(fn, name), net, X.copy()))
    if labels.shape != (batch,):
        hint = (": did you return the log-probabilities instead of the argmax?"
                if labels.shape == (batch, 3) else
                ": a batch of one row still needs an array of one label (no squeeze)"
                if batch == 1 and labels.size == 1 else "")
        return failed(name, f"predict must return one class label per row, shape "
                            f"({batch},), got {labels.shape}{hint}")
    if not np.issubdtype(labels.dtype, np.integer):
        return failed(name, f"predict must return integer labels, got dtype {labels.dtype}")
    expected = eval_labels(oracle, X)
    if not np.array_equal(labels, expected):
        wrong = int(np.sum(labels != expected))
        in_training = np.array_equal(labels, run_forward(oracle, X).argmax(axis=1))
        hint = ("they are the labels of the network in training mode: set training = False "
                "on the layers for the forward pass" if in_training else
                "is the network switched to eval mode? are the labels the argmax, 0-based?")
        return failed(name, f"{wrong} of {batch} labels differ from the argmax of the "
                            f"network's output in eval mode: {hint}")
    return None


@check("predict", cases=PREDICT_CASES)
def check_predict(namespace, cases=None, *, name):
    """Integer labels of shape [batch], computed in eval mode (a Mode layer negates its input in
    training mode), on a network of the checks' layers."""
    fn = need(namespace, name)
    return verdict(name, "labels are right",
                   (_predict_case(namespace, fn, seed, dims) for seed, dims in cases))


# -- sgd_momentum ----------------------------------------------------------------------------

@check("sgd_momentum")
def check_sgd_momentum(namespace, seed=0, *, name):
    """Heavy-ball momentum on a quadratic: the iterates follow the docstring's update."""
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
            elif close(got, _plain_descent(quadratic, x0, step), rtol=1e-9, atol=1e-12):
                hint = (" (that is plain gradient descent: the velocity v <- momentum * v "
                        "- lr * grad must carry over from step to step)")
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


def _plain_descent(quadratic, x0, steps, lr=0.1):
    x = x0.copy()
    for _ in range(steps):
        x = x - lr * quadratic(x)[1]
    return x
