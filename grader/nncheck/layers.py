"""Checks for layers that follow the course's contract.

Every check takes the student's class (and, for the hidden tests, the reference class) and
returns a CheckResult. Without a reference a check tests what the contract itself implies:
gradients against finite differences of the student's own forward, shapes, purity, and the
defining properties of the forward pass. With a reference it also compares outputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.special import expit

from .gradcheck import checked_gradient, close, worst_entry
from .hints import diagnose, explain, spec_hint
from .results import (CheckResult, StudentError, call, count, failed, guarded, passed,
                      set_params, watched)


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


def case(cls, name, seed=0, **dims):
    """(layer, x, grad_output) exactly as the check draws them for `cls` (the layer class) in
    case (seed, dims): a failing check can be reproduced and debugged step by step."""
    spec = sized(SPECS[name], dims)
    rng = np.random.default_rng(seed)
    layer = build(spec, cls, rng)
    x = make_input(spec, rng)
    return layer, x, rng.normal(size=spec.out_shape())


def _reproduce(spec, seed, what):
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


def _array(what, value, shape):
    if not isinstance(value, np.ndarray):
        hint = " (does it end without a return?)" if value is None else ""
        raise StudentError(f"{what} must return a numpy array, got {type(value).__name__}{hint}")
    if value.shape != tuple(shape):
        hint = (" (a batch of one row must stay 2-D: avoid squeeze, and index with [:, j])"
                if shape[0] == 1 and value.size == int(np.prod(shape)) else "")
        raise StudentError(f"{what} returned shape {value.shape}, expected {tuple(shape)}{hint}")
    if value.dtype != np.float64:
        raise StudentError(f"{what} returned an array of dtype {value.dtype}; the layers work "
                           "in float64 (numpy's default): do not convert to another dtype")
    return value


def _observed(what, watch, argument):
    """The failure a watched call's report shows, if any."""
    if watch.modified:
        return (f"{what} modified its {argument} array in place; work on a copy "
                f"(new = {argument} * mask, not {argument} *= mask or {argument}[...] = ...)")
    if watch.overflow:
        layer = what.split(".")[0]
        return (f"{what} overflowed for inputs of magnitude 1e3 (numpy: overflow encountered, "
                "typically in exp of a large number); even if the result looks right, compute "
                "it in a numerically stable form that never exponentiates a large positive "
                "number" + STABLE.get(layer, ""))
    return None


STABLE = {
    "Sigmoid": ": exp(-logaddexp(0, -x)), or scipy.special.expit",
    "Softmax": ": x - logsumexp(x) row by row (scipy.special.logsumexp)",
    "ELU": ": np.where evaluates both branches, so exponentiate only np.minimum(x, 0)",
    "Tanh": ": np.tanh",
}


def _backward(spec, layer, grad_output, want_input=True, want_params=True):
    """Call backward, watched, and validate the (grad_input, grad_params) pair it must return;
    only the half that is being checked, so a wrong grad_input does not fail the parameter
    check. Returns (grad_input, flat grad_params, Watch)."""
    result, watch = watched(f"{spec.name}.backward", layer.backward, grad_output)
    problem = _observed(f"{spec.name}.backward", replace(watch, overflow=False), "grad_output")
    if problem:
        raise StudentError(problem)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise StudentError(f"{spec.name}.backward must return a pair (grad_input, grad_params), "
                           f"got {type(result).__name__}")
    grad_input, grad_params = result
    if want_input:
        if isinstance(grad_input, np.ndarray) and grad_input.shape != spec.input_shape:
            raise StudentError(f"{spec.name}.backward (grad_input) returned shape "
                               f"{grad_input.shape}, expected {spec.input_shape}: the gradient "
                               "with respect to the input has the input's shape")
        grad_input = _array(f"{spec.name}.backward (grad_input)", grad_input, spec.input_shape)
    if not want_params:
        return grad_input, None, watch
    size = sum(int(np.prod(s)) for s in spec.param_shapes)
    flat = np.asarray(grad_params, dtype=float)
    if flat.ndim != 1 or flat.size != size:
        names = " + ".join(f"{n} {s}" for n, s in zip(spec.param_names, spec.param_shapes))
        batch = spec.input_shape[0]
        per_row = size - int(np.prod(spec.param_shapes[-1])) + batch * int(
            np.prod(spec.param_shapes[-1])) if spec.param_shapes else None
        hint = (f": the last parameter's gradient has {batch} rows, one per sample; sum it over "
                "the batch (axis 0)" if flat.size == per_row and batch > 1 else "")
        raise StudentError(
            f"{spec.name}.backward grad_params must be one flat 1-D array of {size} entries"
            f"{' (' + names + ', each raveled)' if names else ' ([] for a layer without params)'}"
            f", got shape {flat.shape}{hint}")
    return grad_input, flat, watch


def _cases(cases, reference):
    """The cases a check runs: near-kink ones need the reference's analytic backward (finite
    differences are wrong there), so only the hidden tests run them."""
    cases = PUBLIC_CASES if cases is None else cases
    return [(seed, dims) for seed, dims in cases if reference is not None
            or not dims.get("near_kink")]


def _twin(spec, layer, reference, seed):
    """A reference layer carrying the student's layer's parameters."""
    twin = build(spec, reference, np.random.default_rng(seed))
    copy_params(layer, twin)
    return twin


def _where(spec, seed, reference):
    """' (for a batch of 1 row of 5 features)' when the case is not the public one."""
    return "" if (seed, spec.input_shape) == (0, SPECS[spec.name].input_shape) \
        and not spec.near_kink else f" (for {describe(spec)})"


def _each_case(base, cases, reference, one):
    """Run `one(seed, spec)` on every case; (the first failure, [evidence of the others]). A
    failure on a case other than the public one says which case in `details["case"]` (shapes
    only: what the grader may tell a student about a hidden case)."""
    evidence = []
    for seed, dims in _cases(cases, reference):
        spec = sized(base, dims)
        hidden_case = bool(_where(spec, seed, reference))
        try:
            result = one(seed, spec)
        except StudentError as error:
            if hidden_case:
                error.case = describe(spec)
            raise
        if isinstance(result, CheckResult):
            if hidden_case:
                result.details["case"] = describe(spec)
            return result, evidence
        evidence.append(result)
    return None, evidence


def _verdict(name, text, failure, evidence):
    """The failure, else a pass carrying the first case's integrity evidence, if any."""
    if failure is not None:
        return failure
    found = next((e for e in evidence if e), "")
    return passed(name, text, **({"integrity": found} if found else {}))


def check_forward(spec, cls, reference=None, seed=0, points=0.0, cases=None):
    """Shape, dtype, purity, overflow, finiteness and values of forward (properties, or the
    reference), on every case."""
    base = spec
    name = f"{spec.name}.forward"

    def one(seed, spec):
        rng = np.random.default_rng(seed)
        layer = build(spec, cls, rng)
        inputs = [make_input(spec, rng)]
        if spec.extreme:
            inputs.append(inputs[0] * 1e3)
        where = _where(spec, seed, reference)
        for x in inputs:
            original = x.copy()
            out, watch = watched(name, layer.forward, x)
            problem = _observed(name, watch, "input")
            if problem:
                return failed(name, problem + where)
            out = _array(name, out, spec.out_shape())
            if not np.array_equal(x, original):
                return failed(name, f"{name} modified its input array in place; work on a "
                                    f"copy{where}")
            if not np.all(np.isfinite(out)):
                return failed(name, f"{name} returned nan/inf for inputs of magnitude "
                                    f"{np.abs(x).max():.0e}: compute it in a numerically stable "
                                    f"way (logsumexp, or subtract the row maximum){where}")
            with np.errstate(all="ignore"):
                problem = spec.prop(x, out, layer) if spec.prop is not None else None
            if reference is not None:
                expected = _twin(spec, layer, reference, seed).forward(x.copy())
                index, bad = worst_entry(out, expected, rtol=1e-6, atol=1e-9)
                if bad > 1:
                    at = ", ".join(map(str, index))
                    return failed(name, f"{name} output[{at}] is {out[index]:.6g}, expected "
                                        f"{expected[index]:.6g}{where}"
                                        + (f": the output {problem}" if problem else ""))
            elif problem:
                return failed(name, f"{name} output {problem}{where}",
                              reproduce=_reproduce(spec, seed, "forward"))
        return None

    def body():
        failure, _ = _each_case(base, cases, reference, one)
        return failure if failure is not None else passed(name, "forward output is right")

    return guarded(name, points, body)


def _precision(analytic, exact):
    """max |analytic - exact| / max |exact|: ~1e-16 for an analytic backward, >= ~1e-11 for
    one differentiated numerically (truncation and round-off of finite differences)."""
    scale = float(np.max(np.abs(exact), initial=0.0))
    return float(np.max(np.abs(analytic - exact), initial=0.0)) / scale if scale else 0.0


NUMERIC_PRECISION = 1e-12      # an analytic backward agrees with the reference far better


def _evidence(spec, watch, precision):
    """The integrity flag's evidence that backward differentiates forward numerically."""
    facts = []
    if watch.forward_calls >= 2:
        facts.append(f"one call of {spec.name}.backward called forward {watch.forward_calls} "
                     "times")
    if precision is not None and precision > NUMERIC_PRECISION:
        facts.append(f"its gradients agree with the analytic ones only to {precision:.1e} "
                     "(relative), the precision of finite differences (an analytic backward "
                     "agrees to about 1e-15)")
    if not facts:
        return ""
    return (f"{spec.name}.backward looks computed by finite differences of forward: "
            + "; ".join(facts))


def check_input_gradient(spec, cls, reference=None, seed=0, points=0.0, cases=None):
    """backward's grad_input against central differences of forward (of the reference's when
    the grader has it, so a wrong forward fails only the forward check), on every case."""
    base = spec
    name = f"{spec.name}.backward"

    def one(seed, spec):
        rng = np.random.default_rng(seed)
        layer = build(spec, cls, rng)
        x = make_input(spec, rng)
        upstream = rng.normal(size=spec.out_shape())
        call(f"{spec.name}.forward", layer.forward, x.copy())
        grad_input, _, watch = _backward(spec, layer, upstream.copy(), want_params=False)
        where = _where(spec, seed, reference)
        exact = None
        if reference is not None:
            twin = _twin(spec, layer, reference, seed)
            twin.forward(x.copy())
            exact = np.asarray(twin.backward(upstream.copy())[0], dtype=float)
        if spec.near_kink:       # finite differences cross the kink: the reference decides
            index, bad = worst_entry(grad_input, exact)
            numeric = exact
        else:
            oracle = twin if reference is not None else spec.defined(layer) or layer
            index, bad, numeric = checked_gradient(
                lambda z: np.sum(call(f"{spec.name}.forward", oracle.forward, z.copy())
                                 * upstream), x.copy(), grad_input, rng)
        if bad > 1:
            hint = spec_hint(spec, "input", grad_input, numeric, x=x, upstream=upstream) \
                or diagnose(grad_input, numeric, batch=x.shape[0])
            if spec.near_kink:
                hint = ("the derivative just off the kink is that of the side the input is on; "
                        "a gradient computed by finite differences of forward is wrong there")
            what = "the reference's gradient" if spec.near_kink else "the numerical gradient"
            text = explain(f"{name}: grad_input", index, grad_input, numeric, hint)
            return failed(name, text.replace("the numerical gradient", what) + where,
                          index=index, analytic=float(grad_input[index]),
                          numeric=float(numeric[index]),
                          reproduce=_reproduce(spec, seed, "backward"))
        precision = None if exact is None else _precision(grad_input, exact)
        return _evidence(spec, watch, precision)

    def body():
        return _verdict(name, "grad_input matches the numerical gradient", *_each_case(base, cases, reference, one))

    return guarded(name, points, body)


def check_param_gradients(spec, cls, reference=None, seed=0, points=0.0, cases=None):
    """backward's flat grad_params against central differences, parameter by parameter."""
    base = spec
    name = f"{spec.name}.backward"

    def one(seed, spec):
        rng = np.random.default_rng(seed)
        layer = build(spec, cls, rng)
        x = make_input(spec, rng)
        upstream = rng.normal(size=spec.out_shape())
        oracle = _twin(spec, layer, reference, seed) if reference is not None else \
            spec.defined(layer) or layer
        call(f"{spec.name}.forward", layer.forward, x.copy())
        _, flat, watch = _backward(spec, layer, upstream.copy(), want_input=False)
        where = _where(spec, seed, reference)
        sizes = [int(np.prod(s)) for s in spec.param_shapes]
        blocks = np.split(flat, np.cumsum(sizes)[:-1])
        swapped = np.split(flat, np.cumsum(sizes[::-1])[:-1])[::-1]
        numerics = []
        base_params = [np.array(p, dtype=float) for p in oracle.params]
        for i, (param, block) in enumerate(zip(base_params, blocks)):
            def loss(value, i=i):
                set_params(oracle, base_params[:i] + [value] + base_params[i + 1:])
                try:
                    out = call(f"{spec.name}.forward", oracle.forward, x.copy())
                finally:
                    set_params(oracle, base_params)
                return np.sum(out * upstream)
            _, _, numeric = checked_gradient(loss, param.copy(), block.reshape(param.shape), rng)
            numerics.append(block.reshape(param.shape) if numeric is None else numeric)
        if len(blocks) > 1 and len(set(sizes)) > 1 \
                and not all(close(a.reshape(b.shape), b) for a, b in zip(blocks, numerics)) \
                and all(close(a.reshape(b.shape), b) for a, b in zip(swapped, numerics)):
            return failed(name, f"{name}: grad_params are in the wrong order; they must follow "
                                f"params = [{', '.join(spec.param_names)}]{where}")
        for pname, shape, block, numeric in zip(spec.param_names, spec.param_shapes, blocks,
                                                numerics):
            analytic = block.reshape(shape)
            index, bad = worst_entry(analytic, numeric)
            if bad > 1:
                hint = spec_hint(spec, pname, analytic, numeric, flat=block, x=x,
                                 upstream=upstream) \
                    or diagnose(analytic, numeric, batch=x.shape[0])
                return failed(name, explain(f"{name}: gradient of {pname}", index, analytic,
                                            numeric, hint) + where,
                              param=pname, index=index, analytic=float(analytic[index]),
                              numeric=float(numeric[index]),
                              reproduce=_reproduce(spec, seed, "backward"))
        precision = None
        if reference is not None:
            twin = _twin(spec, layer, reference, seed)
            twin.forward(x.copy())
            exact = np.asarray(twin.backward(upstream.copy())[1], dtype=float)
            precision = _precision(flat, exact)
        return _evidence(spec, watch, precision)

    def body():
        return _verdict(name, "parameter gradients match the numerical gradient", *_each_case(base, cases, reference, one))

    return guarded(name, points, body)


def check_layer(spec, cls, reference=None, seed=0, points=0.0, cases=None):
    """Forward, input gradient and (if any) parameter gradients on every case; the first
    failure reports."""
    checks = [check_forward, check_input_gradient]
    if spec.param_shapes:
        checks.append(check_param_gradients)
    evidence = ""
    for check in checks:
        result = check(spec, cls, reference, cases=cases)
        if not result:
            result.name = spec.name
            result.max_points = points
            return result
        evidence = evidence or result.details.get("integrity", "")
    return passed(spec.name, "forward and backward are right", points,
                  **({"integrity": evidence} if evidence else {}))


# --- Dropout -------------------------------------------------------------------------------

def _dropout(cls, p, seed):
    layer = call(f"Dropout(p={p}, seed={seed})", cls, p, seed=seed)
    if getattr(layer, "params", None) != []:
        raise StudentError("Dropout.params must be [] (it has no parameters)")
    return layer


def _set_mode(layer, training):
    layer.training = training


def _dropout_edges(cls, cases, training, p):
    """Forward and backward on the edge shapes of `cases` (a batch of one row, one feature):
    the shape is kept, and backward goes through the same mask. None or the failure."""
    name = "Dropout.train" if training else "Dropout.eval"
    for seed, dims in cases or ():
        if not dims:
            continue
        rng = np.random.default_rng(seed)
        shape = (dims.get("batch", 4), dims.get("units", 5))
        x = 0.5 + rng.random(shape)
        layer = _dropout(cls, p, seed=seed)
        _set_mode(layer, training)
        out, watch = watched("Dropout.forward", layer.forward, x)
        problem = _observed("Dropout.forward", watch, "input")
        if problem:
            return failed(name, problem)
        out = _array("Dropout.forward", out, shape)
        upstream = rng.normal(size=shape)
        result = call("Dropout.backward", layer.backward, upstream.copy())
        if not (isinstance(result, tuple) and len(result) == 2):
            return failed(name, "Dropout.backward must return (grad_input, [])")
        grad_input = _array("Dropout.backward (grad_input)", result[0], shape)
        if not close(grad_input, upstream * out / x):
            return failed(name, f"Dropout.backward must use the mask and scale of the last "
                                f"forward pass (for a batch of {count(shape[0], 'row')} of "
                                f"{count(shape[1], 'feature')})")
    return None


def check_dropout_train(cls, p=0.3, seed=0, points=0.0, cases=None):
    """Inverted dropout in training: drop rate p, survivors scaled by 1/(1-p), fresh masks,
    the same masks for the same seed, and backward through the mask."""
    name = "Dropout.train"

    def body():
        rng = np.random.default_rng(seed)
        x = 0.5 + rng.random((200, 50))
        layer = _dropout(cls, p, seed=1)
        _set_mode(layer, True)
        out, watch = watched("Dropout.forward", layer.forward, x)
        problem = _observed("Dropout.forward", watch, "input")
        if problem:
            return failed(name, problem)
        out = _array("Dropout.forward", out, x.shape)
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
        edge = _dropout_edges(cls, cases, True, p)
        return edge if edge is not None else passed(name, "training-mode dropout is right")

    return guarded(name, points, body)


def check_dropout_eval(cls, p=0.3, seed=0, points=0.0, cases=None):
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
        edge = _dropout_edges(cls, cases, False, p)
        return edge if edge is not None else passed(name, "eval-mode dropout is the identity")

    return guarded(name, points, body)


# --- BatchNorm running statistics -----------------------------------------------------------

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

    return guarded(name, points, body)
