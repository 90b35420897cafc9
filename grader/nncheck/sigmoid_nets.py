"""Assignment 2, sections 6 and 7: sigmoid networks. The 2-layer network trained by gradient
descent (one iteration is one step on the numerical gradient; training reaches a loss the
check computes from the returned weights) and the 2-2-2-1 network's backprop in matrix form
(against the problem's neuron-by-neuron equations)."""
from __future__ import annotations

import numpy as np

from .gradcheck import numerical_gradient, worst_entry
from .graphs import compare, sigmoid
from .results import StudentError, call, check, count, failed, need, passed, quiet
from .validate import array, parts


# ---------------------------------------------------------- section 6: the 2-layer network
STEP_CASES = ((0, {"N": 8, "D": 5, "H": 4, "C": 3}),)
TRAIN_CASES = ((0, {"N": 64, "D": 30, "H": 32, "C": 5}),)
TRAIN_ITER = 3000
TRAIN_LR = 1e-3
TRAIN_THRESHOLD = 1e-3     # required final loss / sum(y**2)


def regression_data(seed, N, D, C):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, D)), rng.standard_normal((N, C))


def network_loss(x, y, w1, w2):
    """The lecture's loss, computed by the check: sum of squares of sigmoid(x w1) w2 - y."""
    with np.errstate(over="ignore"):
        return float(np.sum((sigmoid(x @ w1) @ w2 - y) ** 2))


def _trained(fn, x, y, H, n_iter, lr, seed):
    what = f"train_two_layer(x, y, hidden={H}, n_iter={n_iter}, lr={lr:g}, seed={seed})"
    with quiet(fn):    # the lecture's loop prints every loss
        result = call(what, fn, x.copy(), y.copy(), H, n_iter, lr, seed=seed)
    if not (isinstance(result, (tuple, list)) and len(result) >= 2):
        raise StudentError(f"{what} must return (w1, w2, losses), got {type(result).__name__}")
    w1 = array(what + " (w1)", result[0], (x.shape[1], H), gradient=False)
    w2 = array(what + " (w2)", result[1], (H, y.shape[1]), gradient=False)
    return what, w1, w2


@check("two_layer_step", cases=STEP_CASES)
def check_two_layer_step(namespace, cases=None, lr=TRAIN_LR, *, name):
    """One iteration is one gradient-descent step: w <- w - lr * dL/dw, with dL/dw numerical.

    The starting weights come from n_iter=0 (they must depend only on the seed)."""
    fn = need(namespace, "train_two_layer")
    for seed, dims in cases:
        x, y = regression_data(seed, dims["N"], dims["D"], dims["C"])
        H = dims["H"]
        _, w1, w2 = _trained(fn, x, y, H, 0, lr, seed + 1)
        what, again1, again2 = _trained(fn, x, y, H, 0, lr, seed + 1)
        if not (np.array_equal(w1, again1) and np.array_equal(w2, again2)):
            return failed(name, f"{what} returned different weights on two calls: draw the "
                                "initial weights from np.random.default_rng(seed)")
        what, step1, step2 = _trained(fn, x, y, H, 1, lr, seed + 1)
        for var, start, after, numeric in (
                ("w2", w2, step2, numerical_gradient(lambda v: network_loss(x, y, w1, v),
                                                     w2.copy())),
                ("w1", w1, step1, numerical_gradient(lambda v: network_loss(x, y, v, w2),
                                                     w1.copy()))):
            if np.array_equal(start, after):
                return failed(name, f"{what} did not change {var}: one iteration must "
                                    f"update both weight matrices")
            used = (start - after) / lr
            message = compare(f"{what}: (start - end) / lr for {var}", used, numeric)
            if message and var == "w1":
                base = sigmoid(x @ w1)
                linear = numerical_gradient(      # the sigmoid's slope taken as 1
                    lambda v: float(np.sum(((base + x @ (v - w1)) @ w2 - y) ** 2)), w1.copy())
                if np.allclose(used, linear, rtol=1e-4, atol=1e-6):
                    message += ("; the sigmoid's derivative h (1 - h) is missing from the "
                                "gradient with respect to w1")
            if message:
                return failed(name, "one iteration must be w <- w - lr * dL/dw with L the "
                                    "sum of squared errors; " + message)
    return passed(name, "one iteration is one gradient-descent step")


@check("two_layer_training", cases=TRAIN_CASES)
def check_two_layer_training(namespace, cases=None, n_iter=TRAIN_ITER, lr=TRAIN_LR,
                             threshold=TRAIN_THRESHOLD, *, name):
    """Train on grader-chosen data; the check computes the final loss from w1, w2 itself."""
    fn = need(namespace, "train_two_layer")
    for seed, dims in cases:
        x, y = regression_data(seed, dims["N"], dims["D"], dims["C"])
        with np.errstate(all="ignore"):
            what, w1, w2 = _trained(fn, x, y, dims["H"], n_iter, lr, seed + 1)
            relative = network_loss(x, y, w1, w2) / float(np.sum(y ** 2))
        if not np.isfinite(relative) or relative > threshold:
            return failed(name, f"{what} ends at loss / sum(y**2) = {relative:.3g}, above "
                                f"the required {threshold:g}: check two_layer_step, and "
                                "that both weights are updated every iteration",
                          loss=relative)
    return passed(name, f"loss below {threshold:g} of sum(y**2) after {n_iter} iterations "
                        f"on {count(len(cases), 'data set')}")


# ----------------------------------------- section 7: backprop in matrix form, 2-2-2-1 network
NET_CASES = ((0, {"n": 4, "d": 2, "h1": 2, "h2": 2}), (1, {"n": 1, "d": 2, "h1": 2, "h2": 2}))


def network_weights(seed, n, d, h1, h2):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)), rng.normal(size=(d, h1)), rng.normal(size=(h1, h2)),
            rng.normal(size=(h2, 1)), rng.normal(size=(n, 1)))


def neuron_by_neuron(X, W1, W2, W3):
    """The network as the problem's equations write it: one neuron and one observation at a
    time, o^k_ij = f(sum_l w^k_lj o^(k-1)_il), f the sigmoid; the output neuron is linear."""
    out = np.asarray(X, dtype=float)
    for k, W in enumerate((W1, W2, W3)):
        layer = np.zeros((out.shape[0], W.shape[1]))
        for i in range(out.shape[0]):
            for j in range(W.shape[1]):
                h = sum(W[l, j] * out[i, l] for l in range(W.shape[0]))
                layer[i, j] = sigmoid(h) if k < 2 else h
        out = layer
    return out


def _net_text(X, W1, W2, W3):
    return (f"X {X.shape[0]}x{X.shape[1]}, W1 {W1.shape[0]}x{W1.shape[1]}, "
            f"W2 {W2.shape[0]}x{W2.shape[1]}, W3 {W3.shape[0]}x{W3.shape[1]}")


def _answers(fn, name, cases, upstream=False):
    """(what, X, [W1, W2, W3], G, what fn returned) per case: fn called on copies of the case's
    X and weights (and, with `upstream`, of G = dL/dy_hat)."""
    for seed, dims in cases:
        X, W1, W2, W3, G = network_weights(seed, **dims)
        args = (X, W1, W2, W3, G) if upstream else (X, W1, W2, W3)
        what = f"{name}({_net_text(X, W1, W2, W3)}{', grad_yhat' if upstream else ''})"
        yield what, X, [W1, W2, W3], G, call(what, fn, *(a.copy() for a in args))


@check("net2221_forward", cases=NET_CASES)
def check_net_forward(namespace, cases=None, *, name):
    """y_hat against the problem's equations, evaluated neuron by neuron."""
    for what, X, (W1, W2, W3), _, got in _answers(need(namespace, name), name, cases):
        got = array(what, got, (X.shape[0], 1), gradient=False)
        want = neuron_by_neuron(X, W1, W2, W3)
        index, bad = worst_entry(got, want, rtol=1e-9, atol=1e-12)
        if bad > 1:
            hint = ""
            if W1.shape[0] == W1.shape[1] and W2.shape[0] == W2.shape[1] and np.allclose(
                    got, sigmoid(sigmoid(X @ W1.T) @ W2.T) @ W3):
                hint = ": each neuron is a column of its weight matrix, so X W1, not X W1^T"
            return failed(name, f"{what}: y_hat[{index[0]}] is {got[index]:.6g}, but the "
                                f"network gives {want[index]:.6g} "
                                f"(y_hat = f(f(X W1) W2) W3, f the sigmoid){hint}")
    return passed(name, f"y_hat right on {count(len(cases), 'input')}")


_SLOPE_MISTAKES = (
    (lambda H: np.ones_like(H), "; the activation's derivative is missing: d W^T must be "
                                "multiplied elementwise by f'(H) = O (1 - O)"),
    (lambda H: H * (1 - H), "; f'(H) is written with H where the output belongs: "
                            "f'(H) = O (1 - O), O = f(H)"),
)


def _slope_hint(X, weights, G, k, got):
    """The hint for dW_k computed with a wrong slope of the sigmoid just above W_k: compared
    with the numerical gradient of the network whose sigmoid there is replaced by its tangent
    of that wrong slope (the gradients then agree with the mistake's)."""
    if k == 2:
        return ""
    base = [X]
    for W in weights[:2]:
        base.append(sigmoid(base[-1] @ W))
    pre = base[k] @ weights[k]                   # H of the sigmoid above W_k, at the point

    for slope, hint in _SLOPE_MISTAKES:
        def loss(V, slope=slope):
            ws = list(weights)
            ws[k] = V
            out = X
            for j, W in enumerate(ws[:2]):
                H = out @ W
                out = sigmoid(pre) + slope(pre) * (H - pre) if j == k else sigmoid(H)
            return float(np.sum(G * (out @ ws[2])))
        numeric = numerical_gradient(loss, weights[k].copy())
        if got.shape == numeric.shape and np.allclose(got, numeric, rtol=1e-4, atol=1e-6):
            return hint
    return ""


@check("net2221_backward", cases=NET_CASES)
def check_net_backward(namespace, cases=None, *, name):
    """(dW1, dW2, dW3) for upstream dL/dy_hat = G, i.e. the gradients of L = sum(G * y_hat)."""
    for what, X, weights, G, grads in _answers(need(namespace, name), name, cases, True):
        grads = parts(what, grads, 3)
        for k in (2, 1, 0):                   # in backprop order: W3 first
            def loss(V, k=k):
                ws = list(weights)
                ws[k] = V
                return float(np.sum(G * neuron_by_neuron(X, *ws)))

            numeric = numerical_gradient(loss, weights[k].copy())
            got = np.asarray(grads[k], dtype=float)
            message = compare(f"{what}: dW{k + 1}", got, numeric)
            if message:
                right = [f"dW{j + 1}" for j in range(2, k, -1)]
                lead = f"{' and '.join(right)} right, but " if right else ""
                return failed(name, lead + message + _slope_hint(X, weights, G, k, got))
    return passed(name, f"dW1, dW2, dW3 right on {count(len(cases), 'input')}")
