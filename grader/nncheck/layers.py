"""Checks for layers that follow the course's contract.

Every check takes the student's class (and, for the hidden tests, the reference class) and
returns a CheckResult. Without a reference a check tests what the contract itself implies:
gradients against finite differences of the student's own forward, shapes, purity, and the
defining properties of the forward pass. With a reference it also compares outputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .gradcheck import checked_gradient, close, worst_entry
from .hints import diagnose, explain
from .results import StudentError, call, failed, guarded, passed, set_params


@dataclass
class LayerSpec:
    """How to exercise one layer class: constructor arguments, input, expected shapes."""

    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    input_shape: tuple = (4, 5)
    output_shape: tuple | None = None          # None: same as the input
    param_shapes: tuple = ()
    param_names: tuple = ()
    kink: float | None = None                   # keep inputs away from this point
    extreme: bool = False                       # also feed inputs of magnitude 1e3
    prop: object = None                         # public property of the forward pass

    def out_shape(self):
        return self.output_shape or self.input_shape


def _prop_relu(x, out, layer):
    if not np.array_equal(out, np.maximum(x, 0)):
        return "must be x where x > 0 and 0 elsewhere"


def _prop_sigmoid(x, out, layer):
    if not close(out, 1 / (1 + np.exp(-x)), rtol=1e-7, atol=1e-12):
        return "must be 1 / (1 + exp(-x)) elementwise"


def _prop_tanh(x, out, layer):
    if not close(out, np.tanh(x), rtol=1e-7, atol=1e-12):
        return "must be tanh(x) elementwise"


def _prop_leaky(x, out, layer):
    slope = layer.slope
    if not close(out, np.where(x > 0, x, slope * x), rtol=1e-7, atol=1e-12):
        return f"must be x where x > 0 and {slope} * x elsewhere"


def _prop_elu(x, out, layer):
    alpha = layer.alpha
    if not close(out, np.where(x > 0, x, alpha * (np.exp(x) - 1)), rtol=1e-7, atol=1e-12):
        return f"must be x where x > 0 and {alpha} * (exp(x) - 1) elsewhere"


def _prop_dense(x, out, layer):
    weights, biases = layer.params
    if not close(out, x @ weights + biases, rtol=1e-7, atol=1e-12):
        return "must be input @ weights + biases"


def _prop_softmax(x, out, layer):
    total = np.exp(out).sum(axis=1)
    if not close(total, np.ones(len(out)), rtol=1e-7, atol=1e-12):
        return ("must return log-probabilities: exp(output) should sum to 1 in every row, "
                f"but row 0 sums to {total[0]:.6g}")
    if not close(out - out[:, :1], x - x[:, :1], rtol=1e-7, atol=1e-9):
        return "log-softmax differences between classes must equal the input differences"


def _prop_conv(x, out, layer):
    kernel, bias = layer.params
    t = len(kernel) // 2
    padded = np.pad(x, ((0, 0), (t, t)))
    expected = np.stack([padded[:, i:i + len(kernel)] @ kernel for i in range(x.shape[1])], 1)
    if not close(out, expected + bias, rtol=1e-7, atol=1e-12):
        flipped = np.stack([padded[:, i:i + len(kernel)] @ kernel[::-1]
                            for i in range(x.shape[1])], 1)
        if close(out, flipped + bias, rtol=1e-7, atol=1e-12):
            return ("the kernel is flipped: the course's y_i = sum_j x_j k_(j-i+t) does not "
                    "reverse k")
        return "must be y_i = sum_{j=i-t}^{i+t} x_j k_{j-i+t} + b with zero padding"


SPECS = {
    "ReLU": LayerSpec("ReLU", kink=0.0, prop=_prop_relu),
    "Sigmoid": LayerSpec("Sigmoid", extreme=True, prop=_prop_sigmoid),
    "Tanh": LayerSpec("Tanh", prop=_prop_tanh),
    "LeakyReLU": LayerSpec("LeakyReLU", kwargs={"slope": 0.1}, kink=0.0, prop=_prop_leaky),
    "ELU": LayerSpec("ELU", kwargs={"alpha": 1.5}, kink=0.0, prop=_prop_elu),
    "Dense": LayerSpec("Dense", args=(5, 3), output_shape=(4, 3), param_shapes=((5, 3), (3,)),
                       param_names=("weights", "biases"), prop=_prop_dense),
    "Softmax": LayerSpec("Softmax", extreme=True, prop=_prop_softmax),
    "BatchNorm": LayerSpec("BatchNorm", args=(5,), input_shape=(6, 5),
                           param_shapes=((5,), (5,)), param_names=("gamma", "beta")),
    "Conv1D": LayerSpec("Conv1D", kwargs={"kernel_size": 3}, input_shape=(3, 7),
                        param_shapes=((3,), (1,)), param_names=("kernel", "bias"),
                        prop=_prop_conv),
}


def make_input(spec, rng, shape=None):
    """Grader-chosen input; entries stay >= 0.1 away from a kink so h = 1e-5 never crosses it."""
    x = rng.normal(size=shape or spec.input_shape)
    if spec.kink is not None:
        x = spec.kink + np.sign(x) * (0.1 + np.abs(x))
    return x


def build(spec, cls, rng):
    """Instantiate `cls` per the spec and overwrite its params with grader-chosen values."""
    layer = call(f"{spec.name}{spec.args or '()'}", cls, *spec.args, **spec.kwargs)
    params = getattr(layer, "params", None)
    if not isinstance(params, list):
        raise StudentError(f"{spec.name}.params must be a list of numpy arrays, "
                           f"got {type(params).__name__}")
    shapes = tuple(np.shape(p) for p in params)
    if shapes != tuple(spec.param_shapes) or not all(isinstance(p, np.ndarray) for p in params):
        names = ", ".join(f"{n} {s}" for n, s in zip(spec.param_names, spec.param_shapes))
        raise StudentError(f"{spec.name}.params must be [{names}] (numpy arrays), "
                           f"got shapes {list(shapes)}")
    set_params(layer, [rng.normal(size=shape) for shape in shapes])
    return layer


def copy_params(source, target):
    set_params(target, source.params)


def _array(what, value, shape):
    if not isinstance(value, np.ndarray):
        raise StudentError(f"{what} must return a numpy array, got {type(value).__name__}")
    if value.shape != tuple(shape):
        raise StudentError(f"{what} returned shape {value.shape}, expected {tuple(shape)}")
    return value


def _backward(spec, layer, grad_output, want_input=True, want_params=True):
    """Call backward and validate the (grad_input, grad_params) pair it must return; only the
    half that is being checked, so a wrong grad_input does not fail the parameter check."""
    result = call(f"{spec.name}.backward", layer.backward, grad_output)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise StudentError(f"{spec.name}.backward must return a pair (grad_input, grad_params), "
                           f"got {type(result).__name__}")
    grad_input, grad_params = result
    if want_input:
        grad_input = _array(f"{spec.name}.backward (grad_input)", grad_input, spec.input_shape)
    if not want_params:
        return grad_input, None
    size = sum(int(np.prod(s)) for s in spec.param_shapes)
    flat = np.asarray(grad_params, dtype=float)
    if flat.ndim != 1 or flat.size != size:
        names = " + ".join(f"{n} {s}" for n, s in zip(spec.param_names, spec.param_shapes))
        raise StudentError(
            f"{spec.name}.backward grad_params must be one flat 1-D array of {size} entries"
            f"{' (' + names + ', each raveled)' if names else ' ([] for a layer without params)'}"
            f", got shape {flat.shape}")
    return grad_input, flat


def check_forward(spec, cls, reference=None, seed=0, points=0.0):
    """Shape, purity, finiteness and values of forward (properties, or the reference)."""
    name = f"{spec.name}.forward"

    def body():
        rng = np.random.default_rng(seed)
        layer = build(spec, cls, rng)
        inputs = [make_input(spec, rng)]
        if spec.extreme:
            inputs.append(inputs[0] * 1e3)
        for x in inputs:
            original = x.copy()
            with np.errstate(all="ignore"):
                out = _array(name, call(name, layer.forward, x), spec.out_shape())
            if not np.array_equal(x, original):
                return failed(name, f"{name} modified its input array in place; work on a copy")
            if not np.all(np.isfinite(out)):
                return failed(name, f"{name} returned nan/inf for inputs of magnitude "
                                    f"{np.abs(x).max():.0e}: compute it in a numerically stable "
                                    "way (logsumexp, or subtract the row maximum)")
            if reference is not None:
                ref = build(spec, reference, np.random.default_rng(seed))
                copy_params(layer, ref)
                expected = ref.forward(x.copy())
                index, bad = worst_entry(out, expected, rtol=1e-6, atol=1e-9)
                if bad > 1:
                    where = ", ".join(map(str, index))
                    return failed(name, f"{name} output[{where}] is {out[index]:.6g}, "
                                        f"expected {expected[index]:.6g}")
            elif spec.prop is not None:
                with np.errstate(all="ignore"):
                    problem = spec.prop(x, out, layer)
                if problem:
                    return failed(name, f"{name} output {problem}")
        return passed(name, "forward output is right")

    return guarded(name, points, body)


def _oracle(spec, layer, reference, seed):
    """The layer whose forward the numerical gradient differentiates: the reference when the
    grader has it (so a wrong forward fails only the forward check), else the student's own."""
    if reference is None:
        return layer
    twin = build(spec, reference, np.random.default_rng(seed))
    copy_params(layer, twin)
    return twin


def check_input_gradient(spec, cls, reference=None, seed=0, points=0.0):
    """backward's grad_input against central differences of forward."""
    name = f"{spec.name}.backward"

    def body():
        rng = np.random.default_rng(seed)
        layer = build(spec, cls, rng)
        x = make_input(spec, rng)
        upstream = rng.normal(size=spec.out_shape())
        oracle = _oracle(spec, layer, reference, seed)
        call(f"{spec.name}.forward", layer.forward, x.copy())
        sent = upstream.copy()
        grad_input, _ = _backward(spec, layer, sent, want_params=False)
        if not np.array_equal(sent, upstream):
            return failed(name, f"{name} modified grad_output in place; work on a copy")
        index, bad, numeric = checked_gradient(
            lambda z: np.sum(call(f"{spec.name}.forward", oracle.forward, z.copy()) * upstream),
            x.copy(), grad_input, rng)
        if bad > 1:
            hint = diagnose(grad_input, numeric, batch=x.shape[0])
            return failed(name, explain(f"{name}: grad_input", index, grad_input, numeric, hint),
                          index=index, analytic=float(grad_input[index]),
                          numeric=float(numeric[index]))
        return passed(name, "grad_input matches the numerical gradient")

    return guarded(name, points, body)


def check_param_gradients(spec, cls, reference=None, seed=0, points=0.0):
    """backward's flat grad_params against central differences, parameter by parameter."""
    name = f"{spec.name}.backward"

    def body():
        rng = np.random.default_rng(seed)
        layer = build(spec, cls, rng)
        x = make_input(spec, rng)
        upstream = rng.normal(size=spec.out_shape())
        oracle = _oracle(spec, layer, reference, seed)
        call(f"{spec.name}.forward", layer.forward, x.copy())
        _, flat = _backward(spec, layer, upstream.copy(), want_input=False)
        sizes = [int(np.prod(s)) for s in spec.param_shapes]
        blocks = np.split(flat, np.cumsum(sizes)[:-1])
        swapped = np.split(flat, np.cumsum(sizes[::-1])[:-1])[::-1]
        numerics = []
        base = [np.array(p, dtype=float) for p in oracle.params]
        for i, (param, block) in enumerate(zip(base, blocks)):
            def loss(value, i=i):
                set_params(oracle, base[:i] + [value] + base[i + 1:])
                try:
                    out = call(f"{spec.name}.forward", oracle.forward, x.copy())
                finally:
                    set_params(oracle, base)
                return np.sum(out * upstream)
            _, _, numeric = checked_gradient(loss, param.copy(), block.reshape(param.shape), rng)
            numerics.append(block.reshape(param.shape) if numeric is None else numeric)
        if len(blocks) > 1 \
                and not all(close(a.reshape(b.shape), b) for a, b in zip(blocks, numerics)) \
                and all(close(a.reshape(b.shape), b) for a, b in zip(swapped, numerics)):
            return failed(name, f"{name}: grad_params are in the wrong order; they must follow "
                                f"params = [{', '.join(spec.param_names)}]")
        for pname, shape, block, numeric in zip(spec.param_names, spec.param_shapes, blocks,
                                                numerics):
            analytic = block.reshape(shape)
            index, bad = worst_entry(analytic, numeric)
            if bad > 1:
                hint = diagnose(analytic, numeric, batch=x.shape[0])
                if pname in ("biases", "beta", "bias") and close(analytic, np.ones(shape)):
                    hint = ("the bias gradient is not ones: dL/db is grad_output summed over "
                            "the batch (axis 0)")
                return failed(name, explain(f"{name}: gradient of {pname}", index, analytic,
                                            numeric, hint),
                              param=pname, index=index, analytic=float(analytic[index]),
                              numeric=float(numeric[index]))
        return passed(name, "parameter gradients match the numerical gradient")

    return guarded(name, points, body)


def check_layer(spec, cls, reference=None, seed=0, points=0.0):
    """Forward, input gradient and (if any) parameter gradients; the first failure reports."""
    checks = [lambda: check_forward(spec, cls, reference, seed),
              lambda: check_input_gradient(spec, cls, reference, seed)]
    if spec.param_shapes:
        checks.append(lambda: check_param_gradients(spec, cls, reference, seed))
    for run in checks:
        result = run()
        if not result:
            result.name = spec.name
            result.max_points = points
            return result
    return passed(spec.name, "forward and backward are right", points)


# --- Dropout -------------------------------------------------------------------------------

def _dropout(cls, p, seed):
    layer = call(f"Dropout(p={p}, seed={seed})", cls, p, seed=seed)
    if getattr(layer, "params", None) != []:
        raise StudentError("Dropout.params must be [] (it has no parameters)")
    return layer


def _set_mode(layer, training):
    layer.training = training


def check_dropout_train(cls, p=0.3, seed=0, points=0.0):
    """Inverted dropout in training: drop rate p, survivors scaled by 1/(1-p), fresh masks,
    the same masks for the same seed, and backward through the mask."""
    name = "Dropout.train"

    def body():
        rng = np.random.default_rng(seed)
        x = 0.5 + rng.random((200, 50))
        layer = _dropout(cls, p, seed=1)
        _set_mode(layer, True)
        original = x.copy()
        out = _array("Dropout.forward", call("Dropout.forward", layer.forward, x), x.shape)
        if not np.array_equal(x, original):
            return failed(name, "Dropout.forward modified its input array in place")
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
        result = call("Dropout.backward", layer.backward, upstream.copy())
        if not (isinstance(result, tuple) and len(result) == 2):
            return failed(name, "Dropout.backward must return (grad_input, [])")
        grad_input = _array("Dropout.backward (grad_input)", result[0], x.shape)
        if len(np.ravel(result[1])) != 0:
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
        return passed(name, "training-mode dropout is right")

    return guarded(name, points, body)


def check_dropout_eval(cls, p=0.3, seed=0, points=0.0):
    """In eval mode dropout is the identity, forward and backward."""
    name = "Dropout.eval"

    def body():
        rng = np.random.default_rng(seed)
        x = 0.5 + rng.random((50, 20))
        layer = _dropout(cls, p, seed=2)
        _set_mode(layer, False)
        out = _array("Dropout.forward", call("Dropout.forward", layer.forward, x.copy()),
                     x.shape)
        if not np.allclose(out, x, rtol=1e-12, atol=0):
            return failed(name, "with training = False Dropout.forward must return its input "
                                f"unchanged, but {np.mean(out != x):.1%} of the entries differ")
        upstream = rng.normal(size=x.shape)
        grad_input = _array("Dropout.backward (grad_input)",
                            call("Dropout.backward", layer.backward, upstream.copy())[0],
                            x.shape)
        if not np.allclose(grad_input, upstream, rtol=1e-12, atol=0):
            return failed(name, "with training = False Dropout.backward must pass grad_output "
                                "through unchanged")
        return passed(name, "eval-mode dropout is the identity")

    return guarded(name, points, body)


# --- BatchNorm running statistics -----------------------------------------------------------

def check_batchnorm_eval(cls, reference=None, seed=0, points=0.0):
    """Training updates the running statistics; eval normalizes with them, row by row."""
    spec = SPECS["BatchNorm"]
    name = "BatchNorm.eval"

    def body():
        rng = np.random.default_rng(seed)
        layer = build(spec, cls, rng)
        batches = [3.0 + 2.0 * rng.normal(size=(16, 5)) for _ in range(3)]
        for batch in batches:
            _set_mode(layer, True)
            call("BatchNorm.forward", layer.forward, batch)
        _set_mode(layer, False)
        x = 3.0 + 2.0 * rng.normal(size=(6, 5))
        out = _array("BatchNorm.forward", call("BatchNorm.forward", layer.forward, x), x.shape)
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
            index, bad = worst_entry(out, expected, rtol=1e-6, atol=1e-9)
            if bad > 1:
                return failed(name, f"eval output[{index[0]}, {index[1]}] is {out[index]:.6g}, "
                                    f"expected {expected[index]:.6g}: check the running "
                                    "mean/variance update (momentum) and that eval uses them")
        return passed(name, "running statistics are kept and used in eval mode")

    return guarded(name, points, body)
