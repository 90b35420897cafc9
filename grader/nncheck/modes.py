"""The checks of the layers that behave differently in training and in eval mode: Dropout
(inverted dropout, its masks and its identity in eval mode) and BatchNorm's running statistics
(its training-mode forward and backward are layer_checks' like any layer's)."""
from __future__ import annotations

import numpy as np

from .gradcheck import close, worst_entry
from .layer_checks import observed
from .layers import PUBLIC_CASES, SPECS, build, copy_params
from .results import StudentError, call, check, count, failed, passed, watched
from .validate import layer_array


def _dropout(cls, p, seed):
    layer = call(f"Dropout(p={p}, seed={seed})", cls, p, seed=seed)
    if getattr(layer, "params", None) != []:
        raise StudentError("Dropout.params must be [] (it has no parameters)")
    return layer


def _set_mode(layer, training):
    layer.training = training


def _forward(layer, x):
    """Dropout.forward(x), watched and validated: it must not change x in place."""
    out, watch = watched("Dropout.forward", layer.forward, x)
    problem = observed("Dropout.forward", watch, "input")
    if problem:
        raise StudentError(problem)
    return layer_array("Dropout.forward", out, x.shape)


def _backward(layer, upstream):
    """(grad_input, grad_params) of Dropout.backward(upstream), validated."""
    result = call("Dropout.backward", layer.backward, upstream.copy())
    if not (isinstance(result, tuple) and len(result) == 2):
        raise StudentError("Dropout.backward must return (grad_input, [])")
    return layer_array("Dropout.backward (grad_input)", result[0], upstream.shape), result[1]


def _dropout_edges(cls, cases, training, p):
    """Forward and backward on the edge shapes of `cases` (a batch of one row, one feature):
    the shape is kept, and backward goes through the same mask. None or the failure."""
    name = "Dropout.train" if training else "Dropout.eval"
    for seed, dims in cases:
        if not dims:
            continue
        rng = np.random.default_rng(seed)
        shape = (dims.get("batch", 4), dims.get("units", 5))
        x = 0.5 + rng.random(shape)
        layer = _dropout(cls, p, seed=seed)
        _set_mode(layer, training)
        out = _forward(layer, x)
        upstream = rng.normal(size=shape)
        grad_input, _ = _backward(layer, upstream)
        if not close(grad_input, upstream * out / x):
            return failed(name, f"Dropout.backward must use the mask and scale of the last "
                                f"forward pass (for a batch of {count(shape[0], 'row')} of "
                                f"{count(shape[1], 'feature')})")
    return None


@check("Dropout.train", cases=PUBLIC_CASES)
def check_dropout_train(cls, p=0.3, seed=0, cases=None, *, name):
    """Inverted dropout in training: drop rate p, survivors scaled by 1/(1-p), fresh masks,
    the same masks for the same seed, and backward through the mask."""
    rng = np.random.default_rng(seed)
    x = 0.5 + rng.random((200, 50))
    layer = _dropout(cls, p, seed=1)
    _set_mode(layer, True)
    out = _forward(layer, x)
    dropped = out == 0
    rate = dropped.mean()
    if abs(rate - p) > 0.03:
        hint = (" (p is the probability of *dropping* a unit)" if abs(rate - (1 - p)) < 0.03
                else "")
        return failed(name, f"Dropout(p={p}) dropped {rate:.1%} of the units in training, "
                            f"expected about {p:.0%}{hint}")
    kept = ~dropped
    if close(out[kept], x[kept], rtol=1e-9, atol=1e-12):
        return failed(name, "kept units are not rescaled: inverted dropout multiplies them "
                            f"by 1 / (1 - p) = {1 / (1 - p):.4g} so eval needs no change")
    if not close(out[kept], x[kept] / (1 - p), rtol=1e-9, atol=1e-12):
        ratio = float(np.median(out[kept] / x[kept]))
        return failed(name, f"kept units are scaled by {ratio:.4g}, expected "
                            f"1 / (1 - p) = {1 / (1 - p):.4g}")
    upstream = rng.normal(size=x.shape)
    grad_input, grad_params = _backward(layer, upstream)
    if len(np.ravel(grad_params)) != 0:
        return failed(name, "Dropout.backward must return [] as grad_params")
    expected = upstream * out / x
    index, bad = worst_entry(grad_input, expected)
    if bad > 1:
        return failed(name, "Dropout.backward must use the mask and scale of the last "
                            f"forward pass: grad_input[{index[0]}, {index[1]}] is "
                            f"{grad_input[index]:.6g}, expected {expected[index]:.6g}")
    again = call("Dropout.forward", layer.forward, x)
    if np.array_equal(again == 0, dropped):
        return failed(name, "Dropout drew the same mask twice: draw a new mask on every "
                            "forward pass")
    twin = _dropout(cls, p, seed=1)
    _set_mode(twin, True)
    if not np.array_equal(call("Dropout.forward", twin.forward, x) == 0, dropped):
        return failed(name, "Dropout(p, seed=s) must be reproducible: two layers with the "
                            "same seed must draw the same masks (use self.rng)")
    edge = _dropout_edges(cls, cases, True, p)
    return edge if edge is not None else passed(name, "training-mode dropout is right")


@check("Dropout.eval", cases=PUBLIC_CASES)
def check_dropout_eval(cls, p=0.3, seed=0, cases=None, *, name):
    """In eval mode dropout is the identity, forward and backward."""
    rng = np.random.default_rng(seed)
    x = 0.5 + rng.random((50, 20))
    layer = _dropout(cls, p, seed=2)
    _set_mode(layer, False)
    out = layer_array("Dropout.forward", call("Dropout.forward", layer.forward, x.copy()),
                      x.shape)
    if not np.allclose(out, x, rtol=1e-12, atol=0):
        return failed(name, "with training = False Dropout.forward must return its input "
                            f"unchanged, but {np.mean(out != x):.1%} of the entries differ")
    upstream = rng.normal(size=x.shape)
    grad_input = layer_array("Dropout.backward (grad_input)",
                             call("Dropout.backward", layer.backward, upstream.copy())[0],
                             x.shape)
    if not np.allclose(grad_input, upstream, rtol=1e-12, atol=0):
        return failed(name, "with training = False Dropout.backward must pass grad_output "
                            "through unchanged")
    edge = _dropout_edges(cls, cases, False, p)
    return edge if edge is not None else passed(name, "eval-mode dropout is the identity")


# -- BatchNorm's running statistics ----------------------------------------------------------

def _running_eval(layer, batches, x, ddof=0):
    """Eval output per the notebook's definition: running = momentum * running + (1 - momentum)
    * batch statistic (biased variance), from mean 0 and variance 1, then normalize with them."""
    momentum = float(getattr(layer, "momentum", 0.9))
    eps = float(getattr(layer, "eps", 1e-5))
    gamma, beta = (np.asarray(p, dtype=float) for p in layer.params)
    mean, var = np.zeros(x.shape[1]), np.ones(x.shape[1])
    for batch in batches:
        mean = momentum * mean + (1 - momentum) * batch.mean(axis=0)
        var = momentum * var + (1 - momentum) * batch.var(axis=0, ddof=ddof)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


@check("BatchNorm.eval")
def check_batchnorm_eval(cls, reference=None, seed=0, *, name):
    """Training updates the running statistics; eval normalizes with them, row by row."""
    spec = SPECS["BatchNorm"]

    rng = np.random.default_rng(seed)
    layer = build(spec, cls, rng)
    batches = [3.0 + 2.0 * rng.normal(size=(16, 5)) for _ in range(3)]
    for batch in batches:
        _set_mode(layer, True)
        call("BatchNorm.forward", layer.forward, batch)
    _set_mode(layer, False)
    x = 3.0 + 2.0 * rng.normal(size=(6, 5))
    out = layer_array("BatchNorm.forward", call("BatchNorm.forward", layer.forward, x), x.shape)
    single = call("BatchNorm.forward", layer.forward, x[:1])
    if not close(single, out[:1], rtol=1e-9, atol=1e-12):
        return failed(name, "in eval mode BatchNorm must use the running statistics, so a "
                            "row's output cannot depend on the other rows of the batch")
    if reference is not None:
        ref = build(spec, reference, np.random.default_rng(seed))
        copy_params(layer, ref)
        for batch in batches:
            ref.training = True
            ref.forward(batch)
        ref.training = False
        expected = ref.forward(x)
    else:
        expected = _running_eval(layer, batches, x)
    index, bad = worst_entry(out, expected, rtol=1e-6, atol=1e-9)
    if bad > 1:
        hint = ""
        if reference is None and close(out, _running_eval(layer, batches, x, ddof=1),
                                       rtol=1e-6, atol=1e-9):
            hint = (": the running variance is updated with the unbiased batch variance "
                    "(ddof=1); the course uses the biased one")
        return failed(name, f"eval output[{index[0]}, {index[1]}] is {out[index]:.6g}, "
                            f"expected {expected[index]:.6g}: check the running "
                            f"mean/variance update (momentum) and that eval uses them{hint}")
    return passed(name, "running statistics are kept and used in eval mode")
