"""The checks of a layer's forward and backward, for any layer of the contract (SPECS).

Every check takes the student's class (and, for the hidden tests, the reference class) and
returns a CheckResult. Without a reference a check tests what the contract itself implies:
gradients against finite differences of the contract's forward where a formula gives it (else
the student's own), shapes, purity, and the defining properties of the forward pass. With a
reference it also compares outputs, and differentiates the reference's forward.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .gradcheck import checked_gradient, close, worst_entry
from .hints import diagnose, explain, spec_hint
from .layers import SPECS, PUBLIC_CASES, build, copy_params, describe, draw, make_input, \
    reproduce, sized
from .results import CheckResult, StudentError, call, check, failed, passed, set_params, watched
from .validate import layer_array


def observed(what, watch, argument):
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
    problem = observed(f"{spec.name}.backward", replace(watch, overflow=False), "grad_output")
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
        grad_input = layer_array(f"{spec.name}.backward (grad_input)", grad_input,
                                 spec.input_shape)
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
    return [(seed, dims) for seed, dims in cases if reference is not None
            or not dims.get("near_kink")]


def _twin(spec, layer, reference, seed):
    """A reference layer carrying the student's layer's parameters."""
    twin = build(spec, reference, np.random.default_rng(seed))
    copy_params(layer, twin)
    return twin


def _exact(spec, layer, reference, seed, x, upstream):
    """(twin, grad_input, flat grad_params): the reference's backward at the case, on a twin
    carrying the student's layer's parameters."""
    twin = _twin(spec, layer, reference, seed)
    twin.forward(x.copy())
    grad_input, grad_params = twin.backward(upstream.copy())
    return twin, np.asarray(grad_input, dtype=float), np.asarray(grad_params, dtype=float)


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


@check("{spec.name}.forward", cases=PUBLIC_CASES)
def check_forward(spec, cls, reference=None, cases=None, *, name):
    """Shape, dtype, purity, overflow, finiteness and values of forward (properties, or the
    reference), on every case."""
    base = spec

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
            problem = observed(name, watch, "input")
            if problem:
                return failed(name, problem + where)
            out = layer_array(name, out, spec.out_shape())
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
                              reproduce=reproduce(spec, seed, "forward"))
        return None

    failure, _ = _each_case(base, cases, reference, one)
    return failure if failure is not None else passed(name, "forward output is right")


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


@check("{spec.name}.backward", cases=PUBLIC_CASES)
def check_input_gradient(spec, cls, reference=None, cases=None, *, name):
    """backward's grad_input against central differences of forward (of the reference's when
    the grader has it, so a wrong forward fails only the forward check), on every case."""
    base = spec

    def one(seed, spec):
        rng, layer, x, upstream = draw(spec, cls, seed)
        call(f"{spec.name}.forward", layer.forward, x.copy())
        grad_input, _, watch = _backward(spec, layer, upstream.copy(), want_params=False)
        where = _where(spec, seed, reference)
        exact = None
        if reference is not None:
            twin, exact, _ = _exact(spec, layer, reference, seed, x, upstream)
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
                          reproduce=reproduce(spec, seed, "backward"))
        precision = None if exact is None else _precision(grad_input, exact)
        return _evidence(spec, watch, precision)

    return _verdict(name, "grad_input matches the numerical gradient",
                    *_each_case(base, cases, reference, one))


def _param_numerics(spec, oracle, x, upstream, blocks, rng):
    """Per parameter, the gradient of sum(oracle.forward(x) * upstream): the block itself
    where directional derivatives agree with it, else the numerical gradient."""
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
    return numerics


def _swapped(flat, sizes, numerics):
    """Whether the blocks are right but in the reverse of params order."""
    blocks = np.split(flat, np.cumsum(sizes)[:-1])
    swapped = np.split(flat, np.cumsum(sizes[::-1])[:-1])[::-1]
    return len(blocks) > 1 and len(set(sizes)) > 1 \
        and not all(close(a.reshape(b.shape), b) for a, b in zip(blocks, numerics)) \
        and all(close(a.reshape(b.shape), b) for a, b in zip(swapped, numerics))


@check("{spec.name}.backward", cases=PUBLIC_CASES)
def check_param_gradients(spec, cls, reference=None, cases=None, *, name):
    """backward's flat grad_params against central differences, parameter by parameter."""
    base = spec

    def one(seed, spec):
        rng, layer, x, upstream = draw(spec, cls, seed)
        oracle = _twin(spec, layer, reference, seed) if reference is not None else \
            spec.defined(layer) or layer
        call(f"{spec.name}.forward", layer.forward, x.copy())
        _, flat, watch = _backward(spec, layer, upstream.copy(), want_input=False)
        where = _where(spec, seed, reference)
        sizes = [int(np.prod(s)) for s in spec.param_shapes]
        blocks = np.split(flat, np.cumsum(sizes)[:-1])
        numerics = _param_numerics(spec, oracle, x, upstream, blocks, rng)
        if _swapped(flat, sizes, numerics):
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
                              reproduce=reproduce(spec, seed, "backward"))
        precision = None
        if reference is not None:
            precision = _precision(flat, _exact(spec, layer, reference, seed, x, upstream)[2])
        return _evidence(spec, watch, precision)

    return _verdict(name, "parameter gradients match the numerical gradient",
                    *_each_case(base, cases, reference, one))


@check("{spec.name}", cases=PUBLIC_CASES)
def check_layer(spec, cls, reference=None, cases=None, *, name):
    """Forward, input gradient and (if any) parameter gradients on every case; the first
    failure reports."""
    parts = [check_forward, check_input_gradient]
    if spec.param_shapes:
        parts.append(check_param_gradients)
    evidence = ""
    for part in parts:
        result = part(spec, cls, reference, cases=cases)
        if not result:
            result.name = name
            return result
        evidence = evidence or result.details.get("integrity", "")
    return passed(name, "forward and backward are right",
                  **({"integrity": evidence} if evidence else {}))
