"""Assignment 2, sections 1 and 2: the gates (forward, and backward with the upstream
gradient) and the lecture's first example, f = (x + y) z, built of them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graphs import derivative, fmt
from .results import call, check, count, failed, need, passed
from .validate import number, parts


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
    z = number(f"{gate.name}.forward({x:.4g}, {y:.4g})",
               call(f"{gate.name}.forward", instance.forward, x, y))
    expected = gate.op(x, y)
    if not np.isclose(z, expected, rtol=1e-12, atol=1e-12):
        return f"{gate.name}.forward({x:.4g}, {y:.4g}) is {z:.6g}, expected {gate.formula} = " \
               f"{expected:.6g}"
    return _binary_backward(gate, instance, x, y, dz, label)


def _binary_backward(gate, instance, x, y, dz, label):
    what = f"{gate.name}.backward({dz:.4g})"
    dx, dy = parts(what, call(what, instance.backward, dz), 2)
    dx, dy = number(what + " (dx)", dx), number(what + " (dy)", dy)
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


@check("{gate_name}", cases=GATE_CASES)
def check_gate(gate_name, namespace, cases=None, *, name):
    """forward/backward of a two-input gate on random inputs and upstream gradients.

    A case's dims may ask for ``interleave``: two instances used alternately (the state must
    live on the instance) and a second forward before backward (backward uses the last one)."""
    gate = GATES[gate_name]
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


@check("CopyGate", cases=GATE_CASES)
def check_copy_gate(namespace, cases=None, *, name):
    """CopyGate: forward(x) -> (x, x); backward(dz1, dz2) -> dx, the gradients added."""
    cls = need(namespace, name)
    for seed, _ in cases:
        rng = np.random.default_rng(seed)
        x, dz1, dz2 = (float(v) for v in rng.normal(scale=2.0, size=3))
        instance = call("CopyGate()", cls)
        what = f"CopyGate.forward({x:.4g})"
        out = parts(what, call(what, instance.forward, x), 2)
        if not all(np.isclose(number(what, v), x, rtol=1e-12, atol=0) for v in out):
            return failed(name, f"{what} must return the pair ({x:.4g}, {x:.4g})")
        what = f"CopyGate.backward({dz1:.4g}, {dz2:.4g})"
        dx = number(what, call(what, instance.backward, dz1, dz2))
        want = derivative(lambda t: dz1 * t + dz2 * t, x)   # L depends on x via both copies
        if not np.isclose(dx, want, rtol=1e-6, atol=1e-8):
            return failed(name, f"{what} is {dx:.6g}, but x reaches the loss through both "
                                f"copies, so dL/dx = {want:.6g} (the CopyGate is a "
                                "gradient adder)", seed=seed)
    return passed(name, f"forward and backward right on {count(len(cases), 'input')}")


# ------------------------------------------------- the lecture's first example: (x + y) z
LECTURE_XYZ = {"x": -2.0, "y": 5.0, "z": -4.0}
SIMPLE_CASES = ((None, LECTURE_XYZ),)


def _xyz(seed, values):
    if values is not None:
        return dict(values)
    rng = np.random.default_rng(seed)
    return dict(zip("xyz", (float(v) for v in rng.normal(scale=3.0, size=3))))


@check("simple_graph", cases=SIMPLE_CASES)
def check_simple_graph(namespace, cases=None, *, name):
    """simple_graph(x, y, z) -> (f, (df/dx, df/dy, df/dz)) for f = (x + y) z."""
    def f(v):
        return (v["x"] + v["y"]) * v["z"]

    fn = need(namespace, name)
    for seed, values in cases:
        v = _xyz(seed, values)
        what = f"simple_graph({fmt(v)})"
        value, grads = parts(what, call(what, fn, v["x"], v["y"], v["z"]), 2)
        value = number(what + " (f)", value)
        if not np.isclose(value, f(v), rtol=1e-12, atol=1e-12):
            lecture = np.isclose(value, f(LECTURE_XYZ)) and values is None
            return failed(name, f"{what} gives f = {value:.6g}, but (x + y) z = {f(v):.6g}"
                                + (": that is the lecture's value, at its point only; "
                                   "compute f and the gradients from x, y and z"
                                   if lecture else ""))
        grads = parts(what + " (gradients)", grads, 3)
        for var, got in zip("xyz", grads):
            got = number(f"{what} (df/d{var})", got)
            want = derivative(lambda t: f({**v, var: t}), v[var])
            if not np.isclose(got, want, rtol=1e-6, atol=1e-8):
                return failed(name, f"{what}: df/d{var} is {got:.6g} but the numerical "
                                    f"derivative is {want:.6g} (chain rule: upstream "
                                    "gradient times local gradient)")
    return passed(name, f"value and gradient right at {count(len(cases), 'point')}")
