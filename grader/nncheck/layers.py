"""The course's layer contract as the checks see it: each layer's spec (SPECS: constructor
arguments, shapes, parameters, the forward the contract defines and the properties it must
have), the cases (sized), and how a case is drawn and its layer built (draw, build, case).

The checks themselves: layer_checks.py (forward and backward of any layer), modes.py (Dropout,
BatchNorm's running statistics). `case` is public: a failing check's message gives the snippet
that reproduces it (`from nncheck.layers import case`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.special import expit

from .gradcheck import close
from .results import StudentError, call, count, set_params


@dataclass(frozen=True)
class LayerSpec:
    """How to exercise one layer class: constructor arguments, input, expected shapes.

    `rule` says how the shapes follow from a case's sizes (`sized`): the batch, the units
    (features), the outputs of a Dense, the kernel of a Conv1D."""

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
    rule: str = "elementwise"
    near_kink: bool = False                     # this case probes inputs just off the kink
    formula: object = None                      # (x, params, layer) -> the forward the
    #                                             contract defines, when a formula gives it

    def defined(self, layer):
        """A stand-in whose forward is the contract's formula with `layer`'s own params and
        settings: without the reference, the backward checks differentiate it instead of the
        student's forward, so a wrong forward fails only the forward check (as it does in
        the hidden tests, which differentiate the reference's)."""
        if self.formula is None:
            return None
        return _Defined(self, layer)

    def out_shape(self):
        return self.output_shape or self.input_shape


class _Defined:
    """The contract's forward as a layer (see LayerSpec.defined)."""

    def __init__(self, spec, layer):
        self.spec = spec
        self.params = [np.array(p, dtype=float) for p in layer.params]
        self.settings = {k: getattr(layer, k) for k in ("slope", "alpha") if k in
                         spec.kwargs}

    def forward(self, x):
        return self.spec.formula(np.asarray(x, dtype=float), self.params, self.settings)


def _relu(x, params, settings):
    return np.maximum(x, 0.0)


def _sigmoid(x, params, settings):
    return expit(x)


def _tanh(x, params, settings):
    return np.tanh(x)


def _leaky(x, params, settings):
    return np.where(x > 0, x, settings["slope"] * x)


def _elu(x, params, settings):
    return np.where(x > 0, x, settings["alpha"] * np.expm1(np.minimum(x, 0.0)))


def _dense(x, params, settings):
    weights, biases = params
    return x @ weights + biases


def _conv(x, params, settings):
    kernel, bias = params
    t = len(kernel) // 2
    padded = np.pad(x, ((0, 0), (t, t)))
    return np.stack([padded[:, i:i + len(kernel)] @ kernel for i in range(x.shape[1])], 1) \
        + bias


def _prop_relu(x, out, layer):
    if not np.array_equal(out, np.maximum(x, 0)):
        return "must be x where x > 0 and 0 elsewhere"


def _prop_sigmoid(x, out, layer):
    with np.errstate(over="ignore"):
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
    negative = alpha * np.expm1(np.minimum(x, 0))
    if not close(out, np.where(x > 0, x, negative), rtol=1e-7, atol=1e-12):
        return f"must be x where x > 0 and {alpha} * (exp(x) - 1) elsewhere"


def _prop_dense(x, out, layer):
    weights, biases = layer.params
    if not close(out, x @ weights + biases, rtol=1e-7, atol=1e-12):
        if weights.shape[0] == weights.shape[1] and close(out, x @ weights.T + biases,
                                                          rtol=1e-7, atol=1e-12):
            return "uses the transposed weights: it must be input @ weights + biases"
        return "must be input @ weights + biases"


def _prop_softmax(x, out, layer):
    total = np.exp(out).sum(axis=1)
    if not close(total, np.ones(len(out)), rtol=1e-7, atol=1e-12):
        return ("must return log-probabilities: exp(output) should sum to 1 in every row, "
                f"but row 0 sums to {total[0]:.6g}")
    if not close(out - out[:, :1], x - x[:, :1], rtol=1e-7, atol=1e-9):
        return "log-softmax differences between classes must equal the input differences"


def _prop_batchnorm(x, out, layer):
    """Training mode: every column of the output has mean beta and variance
    gamma^2 var / (var + eps), var the column's biased variance (divided by the batch)."""
    gamma, beta = layer.params
    eps = float(getattr(layer, "eps", 1e-5))
    if not close(out.mean(axis=0), beta, rtol=1e-6, atol=1e-9):
        return ("must have mean beta in every column in training mode (normalize with the "
                "batch mean)")
    var = x.var(axis=0)
    if not close(out.var(axis=0), gamma ** 2 * var / (var + eps), rtol=1e-6, atol=1e-9):
        if len(x) > 1:
            unbiased = x.var(axis=0, ddof=1)
            if close(out.var(axis=0), gamma ** 2 * var / (unbiased + eps), rtol=1e-6,
                     atol=1e-9):
                return ("is normalized with the unbiased variance (ddof=1, divided by B - 1); "
                        "the course uses the biased one, divided by the batch size B")
        return ("must have variance gamma^2 var / (var + eps) in every column in training "
                "mode, var the batch's biased variance: (x - mean) / sqrt(var + eps)")


def _prop_conv(x, out, layer):
    kernel, bias = layer.params
    t = len(kernel) // 2
    padded = np.pad(x, ((0, 0), (t, t)))
    expected = np.stack([padded[:, i:i + len(kernel)] @ kernel for i in range(x.shape[1])], 1)
    if not close(out, expected + bias, rtol=1e-7, atol=1e-12):
        flipped = np.stack([padded[:, i:i + len(kernel)] @ kernel[::-1]
                            for i in range(x.shape[1])], 1)
        if close(out, flipped + bias, rtol=1e-7, atol=1e-12):
            return ("is the convolution with the kernel flipped: the course's "
                    "y_i = sum_j x_j k_(j-i+t) does not reverse k")
        return "must be y_i = sum_{j=i-t}^{i+t} x_j k_{j-i+t} + b with zero padding"


SPECS = {
    "ReLU": LayerSpec("ReLU", kink=0.0, extreme=True, prop=_prop_relu, formula=_relu),
    "Sigmoid": LayerSpec("Sigmoid", extreme=True, prop=_prop_sigmoid, formula=_sigmoid),
    "Tanh": LayerSpec("Tanh", extreme=True, prop=_prop_tanh, formula=_tanh),
    "LeakyReLU": LayerSpec("LeakyReLU", kwargs={"slope": 0.1}, kink=0.0, extreme=True,
                           prop=_prop_leaky, formula=_leaky),
    "ELU": LayerSpec("ELU", kwargs={"alpha": 1.5}, kink=0.0, extreme=True, prop=_prop_elu,
                     formula=_elu),
    "Dense": LayerSpec("Dense", args=(5, 3), output_shape=(4, 3), param_shapes=((5, 3), (3,)),
                       param_names=("weights", "biases"), prop=_prop_dense, rule="dense",
                       formula=_dense),
    "Softmax": LayerSpec("Softmax", extreme=True, prop=_prop_softmax),
    "BatchNorm": LayerSpec("BatchNorm", args=(5,), input_shape=(6, 5),
                           param_shapes=((5,), (5,)), param_names=("gamma", "beta"),
                           prop=_prop_batchnorm, rule="batchnorm"),
    "Conv1D": LayerSpec("Conv1D", kwargs={"kernel_size": 3}, input_shape=(3, 7),
                        param_shapes=((3,), (1,)), param_names=("kernel", "bias"),
                        prop=_prop_conv, rule="conv", formula=_conv),
}

# A case is (seed, sizes): the seed of the grader's draws and what `sized` changes. The public
# check runs one case per layer; the hidden tests add the edges (a batch of one row, one
# feature, wide and tall inputs, inputs just off a kink) with other seeds.
PUBLIC_CASES = ((0, {}),)


def sized(spec, dims):
    """The spec for a case's sizes: batch, units (features), out (Dense), kernel (Conv1D)."""
    if not dims:
        return spec
    batch = dims.get("batch", spec.input_shape[0])
    units = dims.get("units", spec.input_shape[1])
    changes = {"input_shape": (batch, units), "near_kink": bool(dims.get("near_kink"))}
    if spec.rule == "dense":
        out = dims.get("out", spec.param_shapes[0][1])
        changes.update(args=(units, out), output_shape=(batch, out),
                       param_shapes=((units, out), (out,)))
    elif spec.rule == "batchnorm":
        changes.update(args=(units,), param_shapes=((units,), (units,)))
    elif spec.rule == "conv":
        kernel = dims.get("kernel", spec.param_shapes[0][0])
        changes.update(kwargs={"kernel_size": kernel}, param_shapes=((kernel,), (1,)))
    return replace(spec, **changes)


def describe(spec):
    """The case in words, for a message: 'a batch of 1 row of 5 features'."""
    batch, units = spec.input_shape
    text = (f"a batch of {count(batch, 'row')} of {count(units, 'feature')}"
            + (f", kernel size {spec.param_shapes[0][0]}" if spec.rule == "conv" else "")
            + (f", {count(spec.param_shapes[0][1], 'output')}" if spec.rule == "dense" else ""))
    return text + (", inputs within 1e-6 of the kink" if spec.near_kink else "")


def make_input(spec, rng, shape=None):
    """Grader-chosen input; entries stay >= 0.1 away from a kink so h = 1e-5 never crosses it
    (a near-kink case puts them within 1e-6 of it instead)."""
    x = rng.normal(size=shape or spec.input_shape)
    if spec.kink is not None:
        gap = rng.uniform(1e-7, 1e-6, size=x.shape) if spec.near_kink else 0.1 + np.abs(x)
        x = spec.kink + np.where(x >= 0, 1.0, -1.0) * gap
    return x


def build(spec, cls, rng):
    """Instantiate `cls` per the spec and overwrite its params with grader-chosen values."""
    args = ", ".join([*map(repr, spec.args), *(f"{k}={v!r}" for k, v in spec.kwargs.items())])
    layer = call(f"{spec.name}({args})", cls, *spec.args, **spec.kwargs)
    params = getattr(layer, "params", None)
    if not isinstance(params, list):
        raise StudentError(f"{spec.name}.params must be a list of numpy arrays, "
                           f"got {type(params).__name__}")
    shapes = tuple(np.shape(p) for p in params)
    if shapes != tuple(spec.param_shapes) or not all(isinstance(p, np.ndarray) for p in params):
        names = ", ".join(f"{n} {s}" for n, s in zip(spec.param_names, spec.param_shapes))
        raise StudentError(f"{spec.name}.params must be [{names}] (numpy arrays), "
                           f"got shapes {list(shapes)}")
    wrong = [f"{n} is {p.dtype}" for n, p in zip(spec.param_names, params) if p.dtype != np.float64]
    if wrong:
        raise StudentError(f"{spec.name}.params must be float64 arrays (numpy's default, the "
                           f"layers' contract), but {', '.join(wrong)}")
    set_params(layer, [rng.normal(size=shape) for shape in shapes])
    return layer


def draw(spec, cls, seed):
    """(rng, layer, x, grad_output) of a case: the layer built from `cls`, its input and the
    upstream gradient, drawn in this order from the case's seed."""
    rng = np.random.default_rng(seed)
    layer = build(spec, cls, rng)
    x = make_input(spec, rng)
    return rng, layer, x, rng.normal(size=spec.out_shape())


def case(cls, name, seed=0, **dims):
    """(layer, x, grad_output) exactly as the check draws them for `cls` (the layer class) in
    case (seed, dims): a failing check can be reproduced and debugged step by step."""
    return draw(sized(SPECS[name], dims), cls, seed)[1:]


def reproduce(spec, seed, what):
    """The snippet a student runs to see the failing case."""
    dims = {"batch": spec.input_shape[0], "units": spec.input_shape[1]}
    extra = "".join(f", {k}={v}" for k, v in dims.items()) if spec.input_shape != SPECS[
        spec.name].input_shape else ""
    lines = ["from nncheck.layers import case",
             f"layer, x, grad_output = case({spec.name}, {spec.name!r}, seed={seed}{extra})"]
    if what == "forward":
        lines.append("out = layer.forward(x)")
    else:
        lines += ["out = layer.forward(x.copy())",
                  "grad_input, grad_params = layer.backward(grad_output.copy())"]
    return "\n".join(lines)


def copy_params(source, target):
    set_params(target, source.params)
