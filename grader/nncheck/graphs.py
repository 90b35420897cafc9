"""Assignment 2's checks: gates, staged ("flat") backprop, vectorized gradients, the SVM loss,
gradient-descent training and backprop in matrix form.

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

from dataclasses import dataclass

import numpy as np

from .gradcheck import numerical_gradient, worst_entry
from .hints import diagnose, explain
from .results import StudentError, call, count, failed, guarded, need, passed, quiet


def scalar(what, value):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise StudentError(f"{what} must be a number, got {type(value).__name__} "
                           f"of shape {np.shape(value)}") from None


def array(what, value, shape, gradient=True):
    try:
        value = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise StudentError(f"{what} must be a numpy array, got {type(value).__name__}") from None
    if value.shape != tuple(shape):
        raise StudentError(f"{what} has shape {value.shape}, expected {tuple(shape)}"
                           + (" (a gradient has the shape of its variable)" if gradient else ""))
    return value


def parts(what, value, n):
    if not (isinstance(value, (tuple, list)) and len(value) == n):
        raise StudentError(f"{what} must return a tuple of {n} values, "
                           f"got {type(value).__name__}"
                           + (f" of length {len(value)}" if isinstance(value, (tuple, list))
                              else ""))
    return value


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


# --------------------------------------------------------------------------------- gates
@dataclass(frozen=True)
class Gate:
    name: str
    op: object            # the gate's function of its inputs
    formula: str
    pattern: str          # the lecture's name for how the gate passes gradients back


GATES = {
    "AddGate": Gate("AddGate", lambda x, y: x + y, "z = x + y", "gradient distributor"),
    "MultiplyGate": Gate("MultiplyGate", lambda x, y: x * y, "z = x * y", "swap multiplier"),
    "MaxGate": Gate("MaxGate", lambda x, y: max(x, y), "z = max(x, y)", "gradient router"),
}
GATE_CASES = ((0, {}), (1, {}), (2, {}))


def _gate_inputs(rng):
    x, y = rng.normal(scale=3.0, size=2)
    if abs(x - y) < 0.5:                       # no ties for max: its derivative jumps there
        y = x + (0.5 + abs(y - x)) * (1 if y >= x else -1)
    return float(x), float(y), float(rng.normal(scale=2.0))


def _binary_gate(gate, cls, x, y, dz, label):
    """Run forward(x, y) then backward(dz) on a fresh instance; None or a failure message."""
    instance = call(f"{gate.name}()", cls)
    z = scalar(f"{gate.name}.forward({x:.4g}, {y:.4g})",
               call(f"{gate.name}.forward", instance.forward, x, y))
    expected = gate.op(x, y)
    if not np.isclose(z, expected, rtol=1e-12, atol=1e-12):
        return f"{gate.name}.forward({x:.4g}, {y:.4g}) is {z:.6g}, expected {gate.formula} = " \
               f"{expected:.6g}"
    return _binary_backward(gate, instance, x, y, dz, label)


def _binary_backward(gate, instance, x, y, dz, label):
    what = f"{gate.name}.backward({dz:.4g})"
    dx, dy = parts(what, call(what, instance.backward, dz), 2)
    dx, dy = scalar(what + " (dx)", dx), scalar(what + " (dy)", dy)
    want_x = dz * derivative(lambda t: gate.op(t, y), x)
    want_y = dz * derivative(lambda t: gate.op(x, t), y)
    for which, got, want, own in (("dx", dx, want_x, x), ("dy", dy, want_y, y)):
        if not np.isclose(got, want, rtol=1e-6, atol=1e-8):
            hint = ""
            if dz != 0 and not np.isclose(dz, 1.0) and np.isclose(got, want / dz, rtol=1e-6,
                                                                   atol=1e-8):
                hint = ": that is the local gradient alone; multiply it by the upstream dz"
            elif gate.name == "MultiplyGate" and np.isclose(got, dz * own, rtol=1e-6, atol=1e-8):
                hint = ": each input's gradient is dz times the *other* input"
            return (f"after forward({x:.4g}, {y:.4g}){label}, {what} gives {which} = {got:.6g}, "
                    f"but dL/d{which[1]} = dL/dz * dz/d{which[1]} = {want + 0.0:.6g} (the "
                    f"{gate.name} is a {gate.pattern}){hint}")
    return None


def check_gate(gate_name, namespace, cases=None, points=0.0):
    """forward/backward of a two-input gate on random inputs and upstream gradients.

    A case's dims may ask for ``interleave``: two instances used alternately (the state must
    live on the instance) and a second forward before backward (backward uses the last one)."""
    gate = GATES[gate_name]
    name = gate.name
    cases = GATE_CASES if cases is None else cases

    def body():
        cls = need(namespace, gate.name)
        for seed, dims in cases:
            rng = np.random.default_rng(seed)
            x, y, dz = _gate_inputs(rng)
            message = _binary_gate(gate, cls, x, y, dz, "")
            if message:
                return failed(name, message, seed=seed)
            if dims.get("interleave"):
                a, b, dz2 = _gate_inputs(rng)
                first, second = call(f"{gate.name}()", cls), call(f"{gate.name}()", cls)
                call(f"{gate.name}.forward", first.forward, x, y)
                call(f"{gate.name}.forward", second.forward, a, b)
                message = _binary_backward(gate, first, x, y, dz, " on one instance and "
                                           f"forward({a:.4g}, {b:.4g}) on another")
                if message:
                    return failed(name, message + ": keep the inputs on self, not on the class",
                                  seed=seed)
                call(f"{gate.name}.forward", first.forward, a, b)
                message = _binary_backward(gate, first, a, b, dz2,
                                           f" (after an earlier forward({x:.4g}, {y:.4g}))")
                if message:
                    return failed(name, message + ": backward must use the inputs of the "
                                                  "latest forward", seed=seed)
        return passed(name, f"forward and backward right on {count(len(cases), 'input')}")

    return guarded(name, points, body)


def check_copy_gate(namespace, cases=None, points=0.0):
    """CopyGate: forward(x) -> (x, x); backward(dz1, dz2) -> dx, the gradients added."""
    name = "CopyGate"
    cases = GATE_CASES if cases is None else cases

    def body():
        cls = need(namespace, name)
        for seed, _ in cases:
            rng = np.random.default_rng(seed)
            x, dz1, dz2 = (float(v) for v in rng.normal(scale=2.0, size=3))
            instance = call("CopyGate()", cls)
            what = f"CopyGate.forward({x:.4g})"
            out = parts(what, call(what, instance.forward, x), 2)
            if not all(np.isclose(scalar(what, v), x, rtol=1e-12, atol=0) for v in out):
                return failed(name, f"{what} must return the pair ({x:.4g}, {x:.4g})")
            what = f"CopyGate.backward({dz1:.4g}, {dz2:.4g})"
            dx = scalar(what, call(what, instance.backward, dz1, dz2))
            want = derivative(lambda t: dz1 * t + dz2 * t, x)   # L depends on x via both copies
            if not np.isclose(dx, want, rtol=1e-6, atol=1e-8):
                return failed(name, f"{what} is {dx:.6g}, but x reaches the loss through both "
                                    f"copies, so dL/dx = {want:.6g} (the CopyGate is a "
                                    "gradient adder)", seed=seed)
        return passed(name, f"forward and backward right on {count(len(cases), 'input')}")

    return guarded(name, points, body)


# ------------------------------------------------------------- the lecture's worked examples
LECTURE_XYZ = {"x": -2.0, "y": 5.0, "z": -4.0}
LECTURE_NEURON = {"w": (2.0, -3.0, -3.0), "x": (-1.0, -2.0)}
SIMPLE_CASES = ((None, LECTURE_XYZ),)
NEURON_CASES = ((None, LECTURE_NEURON),)


def _xyz(seed, values):
    if values is not None:
        return dict(values)
    rng = np.random.default_rng(seed)
    return dict(zip("xyz", (float(v) for v in rng.normal(scale=3.0, size=3))))


def check_simple_graph(namespace, cases=None, points=0.0):
    """simple_graph(x, y, z) -> (f, (df/dx, df/dy, df/dz)) for f = (x + y) z."""
    name = "simple_graph"
    cases = SIMPLE_CASES if cases is None else cases

    def f(v):
        return (v["x"] + v["y"]) * v["z"]

    def body():
        fn = need(namespace, name)
        for seed, values in cases:
            v = _xyz(seed, values)
            what = f"simple_graph({fmt(v)})"
            value, grads = parts(what, call(what, fn, v["x"], v["y"], v["z"]), 2)
            value = scalar(what + " (f)", value)
            if not np.isclose(value, f(v), rtol=1e-12, atol=1e-12):
                lecture = np.isclose(value, f(LECTURE_XYZ)) and values is None
                return failed(name, f"{what} gives f = {value:.6g}, but (x + y) z = {f(v):.6g}"
                                    + (": that is the lecture's value, at its point only; "
                                       "compute f and the gradients from x, y and z"
                                       if lecture else ""))
            grads = parts(what + " (gradients)", grads, 3)
            for var, got in zip("xyz", grads):
                got = scalar(f"{what} (df/d{var})", got)
                want = derivative(lambda t: f({**v, var: t}), v[var])
                if not np.isclose(got, want, rtol=1e-6, atol=1e-8):
                    return failed(name, f"{what}: df/d{var} is {got:.6g} but the numerical "
                                        f"derivative is {want:.6g} (chain rule: upstream "
                                        "gradient times local gradient)")
        return passed(name, f"value and gradient right at {count(len(cases), 'point')}")

    return guarded(name, points, body)


def _neuron_point(seed, values):
    if values is not None:
        return np.array(values["w"], dtype=float), np.array(values["x"], dtype=float)
    rng = np.random.default_rng(seed)
    return rng.normal(scale=1.5, size=3), rng.normal(scale=1.5, size=2)


def _neuron(w, x):
    return float(sigmoid(w[0] * x[0] + w[1] * x[1] + w[2]))


LECTURE_ONLY = ("; these are the lecture's numbers, right at its point only: compute them "
                "from w and x")


def _is_lecture_answer(L, grad_s3):
    """Whether an answer at another point is the lecture's own (hard-coded) numbers."""
    w, x = (np.array(LECTURE_NEURON[k]) for k in ("w", "x"))
    s3 = w[0] * x[0] + w[1] * x[1] + w[2]
    try:
        return bool(np.isclose(float(L), _neuron(w, x)) and
                    np.isclose(float(grad_s3), derivative(sigmoid, s3), rtol=1e-3))
    except (TypeError, ValueError):
        return False


def _neuron_call(fn, w, x):
    what = f"neuron_flat(w={np.round(w, 4).tolist()}, x={np.round(x, 4).tolist()})"
    return what, parts(what, call(what, fn, w.copy(), x.copy()), 4)


def check_neuron(part, namespace, cases=None, points=0.0):
    """neuron_flat(w, x) -> (L, grad_s3, grad_w, grad_x) for L = sigmoid(w0 x0 + w1 x1 + w2).

    `part` is "forward" (L), "local" (grad_s3, the gradient at the sigmoid's input: upstream
    1 times the sigmoid's local gradient) or "gradients" (grad_w and grad_x)."""
    name = {"forward": "neuron_forward", "local": "neuron_local_grad",
            "gradients": "neuron_gradients"}[part]
    cases = NEURON_CASES if cases is None else cases

    def body():
        fn = need(namespace, "neuron_flat")
        for seed, values in cases:
            w, x = _neuron_point(seed, values)
            what, (L, grad_s3, grad_w, grad_x) = _neuron_call(fn, w, x)
            lecture = values is None and _is_lecture_answer(L, grad_s3)
            if part == "forward":
                L, want = scalar(what + " (L)", L), _neuron(w, x)
                if not np.isclose(L, want, rtol=1e-9, atol=1e-12):
                    hint = ""
                    if np.isclose(L, float(sigmoid(w[0] * x[0] + w[1] * x[1]))):
                        hint = ": the bias w2 is missing from s3 = s2 + w2"
                    elif lecture:
                        hint = LECTURE_ONLY
                    return failed(name, f"{what} gives L = {L:.6g}, but "
                                        f"1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) = {want:.6g}"
                                        + hint)
            elif part == "local":
                grad_s3 = scalar(what + " (grad_s3)", grad_s3)
                s3 = w[0] * x[0] + w[1] * x[1] + w[2]
                want = derivative(sigmoid, s3)
                if not np.isclose(grad_s3, want, rtol=1e-6, atol=1e-9):
                    hint = ""
                    if np.isclose(grad_s3, (1 - s3) * s3):
                        hint = ": it is written with s3 where the output L belongs, (1 - L) L"
                    elif lecture:
                        hint = LECTURE_ONLY
                    return failed(name, f"{what} gives grad_s3 = {grad_s3:.6g}, but the "
                                        f"sigmoid's slope at s3 = {s3:.4g} is {want:.6g} "
                                        "(upstream gradient 1 times the local gradient of the "
                                        "sigmoid, written with its output L)" + hint)
            else:
                s3 = w[0] * x[0] + w[1] * x[1] + w[2]
                slope = derivative(sigmoid, s3)
                own = scalar(what + " (grad_s3)", grad_s3)
                for var, got, point in (("w", grad_w, w), ("x", grad_x, x)):
                    got = array(f"{what} (grad_{var})", got, point.shape)
                    numeric = numerical_gradient(
                        lambda p: _neuron(p, x) if var == "w" else _neuron(w, p), point.copy())
                    message = compare(f"{what}: grad_{var}", got, numeric)
                    if not message:
                        continue
                    if not np.isclose(own, slope, rtol=1e-6, atol=1e-9):
                        # the gradients below s3 inherit a wrong grad_s3: that is the cause
                        return failed(name, f"{what}: grad_{var} is built on grad_s3 = "
                                            f"{own:.6g}, which is not the sigmoid's slope "
                                            f"{slope:.6g} (check neuron_local_grad): fix "
                                            "grad_s3 first; the gradients below it are "
                                            "grad_s3 times the local gradients of the add and "
                                            "multiply gates")
                    upstream = own * np.array([x[0], x[1], 1.0] if var == "w" else [w[0], w[1]])
                    swapped = own * np.array([w[0], w[1], 1.0] if var == "w" else [x[0], x[1]])
                    if np.allclose(got, swapped) and not np.allclose(got, upstream):
                        message += ("; the multiply gates swap: dL/dw0 = grad_s3 * x0 and "
                                    "dL/dx0 = grad_s3 * w0")
                    elif var == "w" and np.isclose(got[2], 1.0) and np.allclose(got[:2],
                                                                                 upstream[:2]):
                        message += ("; dL/dw2 = grad_s3 (the add gate passes the upstream "
                                    "gradient on), not 1")
                    elif lecture or np.allclose(got, np.round(numeric, 2)):
                        message += ("; these are the lecture's table, rounded: compute the "
                                    "gradients from w, x and grad_s3")
                    return failed(name, message)
        return passed(name, f"right at {count(len(cases), 'point')}")

    return guarded(name, points, body)


# ----------------------------------------------------------------- vectorized gradients
LECTURE_W = ((0.1, 0.5), (-0.3, 0.8))
LECTURE_X = (0.2, 0.4)
NORM_CASES = ((None, {"W": LECTURE_W, "x": LECTURE_X}), (0, {"m": 3, "n": 5}),
              (1, {"m": 4, "n": 4}))


def _norm_point(seed, dims):
    if seed is None:
        return np.array(dims["W"], dtype=float), np.array(dims["x"], dtype=float)
    rng = np.random.default_rng(seed)
    return rng.normal(size=(dims["m"], dims["n"])), rng.normal(size=dims["n"])


def check_backprop_normWx(namespace, cases=None, points=0.0):
    """normWx_backprop(W, x) -> (f, grad_W, grad_x) for f = ||W x||^2."""
    name = "backprop_normWx"
    cases = NORM_CASES if cases is None else cases

    def f(W, x):
        return float(np.sum((W @ x) ** 2))

    def body():
        fn = need(namespace, "normWx_backprop")
        for seed, dims in cases:
            W, x = _norm_point(seed, dims)
            what = f"normWx_backprop(W {W.shape[0]}x{W.shape[1]}, x of {x.size})"
            value, grad_W, grad_x = parts(what, call(what, fn, W.copy(), x.copy()), 3)
            value = scalar(what + " (f)", value)
            if not np.isclose(value, f(W, x), rtol=1e-9, atol=1e-12):
                return failed(name, f"{what} gives f = {value:.6g}, but ||W x||^2 = "
                                    f"{f(W, x):.6g}")
            for var, got, point in (("W", grad_W, W), ("x", grad_x, x)):
                numeric = numerical_gradient(
                    lambda p: f(p, x) if var == "W" else f(W, p), point.copy())
                got = np.asarray(got, dtype=float)
                message = compare(f"{what}: grad_{var}", got, numeric)
                if message:
                    return failed(name, message)
        return passed(name, f"f, grad_W and grad_x right on {count(len(cases), 'input')}")

    return guarded(name, points, body)


# The lecture's matrix-multiply example: x [N x D], w [D x M], dL/dy [N x M]
LECTURE_MATMUL = {"x": ((2, 1, -3), (-3, 4, 2)),
                  "w": ((3, 2, 1, -1), (2, 1, 3, 2), (3, 2, 1, -2)),
                  "grad_y": ((2, 3, -3, 9), (-8, 1, 4, 6))}
MATMUL_CASES = ((None, LECTURE_MATMUL), (0, {"N": 3, "D": 4, "M": 4}),
                (1, {"N": 2, "D": 2, "M": 2}))


def _matmul_point(seed, dims):
    if seed is None:
        return tuple(np.array(dims[k], dtype=float) for k in ("x", "w", "grad_y"))
    rng = np.random.default_rng(seed)
    N, D, M = dims["N"], dims["D"], dims["M"]
    return rng.normal(size=(N, D)), rng.normal(size=(D, M)), rng.normal(size=(N, M))


def check_matmul(var, namespace, cases=None, points=0.0):
    """matmul_backward(x, w, grad_y) -> (grad_x, grad_w) for y = x @ w; `var` is x or w."""
    name = f"matmul_grad_{var}"
    cases = MATMUL_CASES if cases is None else cases

    def body():
        fn = need(namespace, "matmul_backward")
        for seed, dims in cases:
            x, w, grad_y = _matmul_point(seed, dims)
            what = (f"matmul_backward(x {x.shape[0]}x{x.shape[1]}, w {w.shape[0]}x{w.shape[1]}, "
                    f"grad_y {grad_y.shape[0]}x{grad_y.shape[1]})")
            grads = parts(what, call(what, fn, x.copy(), w.copy(), grad_y.copy()), 2)
            got = np.asarray(grads[0] if var == "x" else grads[1], dtype=float)
            point = x if var == "x" else w

            def loss(p):    # L with dL/dy = grad_y: L = sum(grad_y * y)
                return float(np.sum(grad_y * ((p @ w) if var == "x" else (x @ p))))

            message = compare(f"{what}: grad_{var}", got, numerical_gradient(loss, point.copy()))
            if message:
                return failed(name, message)
        return passed(name, f"dL/d{var} right on {count(len(cases), 'input')}")

    return guarded(name, points, body)


# ---------------------------------------------------------------------- multiclass SVM
SVM_CASES = ((0, {"N": 8, "D": 5, "C": 4}), (1, {"N": 6, "D": 3, "C": 3}))
SVM_REG = 0.1


def svm_data(seed, N, D, C):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(D, C)), rng.normal(size=(N, D)), rng.integers(0, C, size=N)


def _svm_call(fn, fn_name, W, X, y, reg):
    what = f"{fn_name}(W {W.shape[0]}x{W.shape[1]}, X {X.shape[0]}x{X.shape[1]}, y, reg={reg:g})"
    loss, dW = parts(what, call(what, fn, W.copy(), X.copy(), y.copy(), reg), 2)
    return what, scalar(what + " (loss)", loss), dW


def _one_margin_t(seed, N, C):
    """The t_i of `_one_margin` (its draws replayed)."""
    rng = np.random.default_rng(seed + 7919)
    rng.integers(0, C, size=N)
    t = rng.uniform(-3, 2, size=N)
    return np.where(np.abs(t + 1) < 0.2, t + 0.5, t)


def _one_margin(seed, N, C):
    """Samples x_i = e_i (so scores are the rows of W) with a single margin that can be violated:
    s_(y_i) = b_i, s_(j_i) = b_i + t_i for one other class, every other class b_i - 5."""
    rng = np.random.default_rng(seed + 7919)
    y = rng.integers(0, C, size=N)
    t = rng.uniform(-3, 2, size=N)
    t = np.where(np.abs(t + 1) < 0.2, t + 0.5, t)     # stay off the hinge
    W = np.zeros((N, C))
    for i in range(N):
        base = rng.normal()
        other = (y[i] + 1 + rng.integers(0, C - 1)) % C
        W[i] = base - 5.0
        W[i, y[i]] = base
        W[i, other] = base + t[i]
    return W, np.eye(N), y, float(np.mean(np.maximum(0.0, t + 1.0)))


def check_svm_loss(fn_name, namespace, cases=None, points=0.0):
    """The loss of fn_name(W, X, y, reg) -> (loss, dW), pinned down by three properties."""
    name = fn_name.replace("svm_loss_", "svm_") + "_loss"
    cases = SVM_CASES if cases is None else cases

    def body():
        fn = need(namespace, fn_name)
        for seed, dims in cases:
            N, D, C = dims["N"], dims["D"], dims["C"]
            W, X, y = svm_data(seed, N, D, C)
            what, loss, _ = _svm_call(fn, fn_name, np.zeros_like(W), X, y, 0.5)
            if not np.isclose(loss, C - 1, rtol=1e-9):
                return failed(name, f"{what} with W = 0 gives loss {loss:.6g}: every score is 0, "
                                    f"so each sample has C - 1 = {C - 1} margins of exactly 1 and "
                                    f"the loss must be {C - 1} (sum over j != y_i only; mean "
                                    "over the samples)")
            W1, X1, y1, want = _one_margin(seed, N, C)
            what, loss, _ = _svm_call(fn, fn_name, W1, X1, y1, 0.0)
            if not np.isclose(loss, want, rtol=1e-9, atol=1e-12):
                t = _one_margin_t(seed, N, C)
                swapped = float(np.mean((C - 2) * 6.0 + np.maximum(0.0, 1.0 - t)))
                hint = (": the margins are reversed; the margin of class j is s_j - s_(y_i) + 1 "
                        "(a wrong class scoring close to the right one costs), not "
                        "s_(y_i) - s_j + 1" if np.isclose(loss, swapped) else "")
                return failed(name, f"{what} is {loss:.6g} on samples whose scores are known "
                                    f"(one class at s_(y_i) + t_i, the others at s_(y_i) - 5), "
                                    f"where the loss is mean_i max(0, t_i + 1) = {want:.6g}"
                                    + hint)
            _, plain, _ = _svm_call(fn, fn_name, W, X, y, 0.0)
            what, loss, _ = _svm_call(fn, fn_name, W, X, y, SVM_REG)
            want = SVM_REG * float(np.sum(W * W))
            if not np.isclose(loss - plain, want, rtol=1e-8, atol=1e-12):
                return failed(name, f"{what} - loss at reg=0 is {loss - plain:.6g}, but the "
                                    f"regularization reg * sum(W**2) is {want:.6g}")
        return passed(name, f"loss right on {count(len(cases), 'data set')}")

    return guarded(name, points, body)


def check_svm_grad(fn_name, namespace, cases=None, points=0.0):
    """dW of fn_name(W, X, y, reg) against the numerical gradient of its own loss, and the
    regularizer's part of it (2 reg W)."""
    name = fn_name.replace("svm_loss_", "svm_") + "_grad"
    cases = SVM_CASES if cases is None else cases

    def body():
        fn = need(namespace, fn_name)
        for seed, dims in cases:
            W, X, y = svm_data(seed, dims["N"], dims["D"], dims["C"])
            what, _, dW = _svm_call(fn, fn_name, W, X, y, SVM_REG)
            dW = array(what + " (dW)", dW, W.shape)
            _, _, plain = _svm_call(fn, fn_name, W, X, y, 0.0)
            plain = array(what + " (dW)", plain, W.shape)
            index, bad = worst_entry(dW - plain, 2 * SVM_REG * W)
            if bad > 1:
                return failed(name, f"{what}: dW minus dW at reg=0 should be the gradient of "
                                    f"reg * sum(W**2), 2 * reg * W; entry {list(index)} is "
                                    f"{(dW - plain)[index]:.6g} instead of "
                                    f"{2 * SVM_REG * W[index]:.6g}")
            numeric = numerical_gradient(
                lambda V: _svm_call(fn, fn_name, V, X, y, SVM_REG)[1], W.copy())
            message = compare(f"{what}: dW", dW, numeric, " (numerical gradient of your loss)")
            if message:
                rows = np.arange(len(X))
                raw = X @ W
                active = (raw - raw[rows, y][:, None] + 1 > 0).astype(float)
                active[rows, y] = 0.0
                if np.allclose(dW, X.T @ active / len(X) + 2 * SVM_REG * W):
                    message += ("; the correct class's column is missing: every violated margin "
                                "also lowers s_(y_i), so column y_i gets -x_i once per violation")
                return failed(name, message)
        return passed(name, f"dW matches the numerical gradient on {count(len(cases), 'data set')}")

    return guarded(name, points, body)


# ------------------------------------------------------------ the 2-layer sigmoid network
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


def check_two_layer_step(namespace, cases=None, lr=TRAIN_LR, points=0.0):
    """One iteration is one gradient-descent step: w <- w - lr * dL/dw, with dL/dw numerical.

    The starting weights come from n_iter=0 (they must depend only on the seed)."""
    name = "two_layer_step"
    cases = STEP_CASES if cases is None else cases

    def body():
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

    return guarded(name, points, body)


def check_two_layer_training(namespace, cases=None, n_iter=TRAIN_ITER, lr=TRAIN_LR,
                             threshold=TRAIN_THRESHOLD, points=0.0):
    """Train on grader-chosen data; the check computes the final loss from w1, w2 itself."""
    name = "two_layer_training"
    cases = TRAIN_CASES if cases is None else cases

    def body():
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

    return guarded(name, points, body)


# ------------------------------------------------- backprop in matrix form, 2-2-2-1 network
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


def check_net_forward(namespace, cases=None, points=0.0):
    name = "net2221_forward"
    cases = NET_CASES if cases is None else cases

    def body():
        fn = need(namespace, name)
        for seed, dims in cases:
            X, W1, W2, W3, _ = network_weights(seed, **dims)
            what = f"net2221_forward({_net_text(X, W1, W2, W3)})"
            got = call(what, fn, X.copy(), W1.copy(), W2.copy(), W3.copy())
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

    return guarded(name, points, body)


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


def check_net_backward(namespace, cases=None, points=0.0):
    """(dW1, dW2, dW3) for upstream dL/dy_hat = G, i.e. the gradients of L = sum(G * y_hat)."""
    name = "net2221_backward"
    cases = NET_CASES if cases is None else cases

    def body():
        fn = need(namespace, name)
        for seed, dims in cases:
            X, W1, W2, W3, G = network_weights(seed, **dims)
            what = f"net2221_backward({_net_text(X, W1, W2, W3)}, grad_yhat)"
            grads = parts(what, call(what, fn, X.copy(), W1.copy(), W2.copy(), W3.copy(),
                                     G.copy()), 3)
            weights = [W1, W2, W3]
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

    return guarded(name, points, body)
