"""The checks' own test layers, for checking a network-level function on its own.

`compute_loss_grad`, `predict` and `Callback` are checked on networks of these layers, not of
the student's (or the reference's) course layers: a bug in the student's Dense then fails only
the Dense checks, public and hidden alike, and the network has an architecture that the
notebook's global `network` cannot stand in for. They follow the layer contract; none is a
course layer, and their backward differentiates their own forward numerically (they are the
grader's, so that reveals no solution).

In the clean room the layers handed to student code live in the student process
(`test_network`): their params are arrays of that process, so set_weights writes them in
place, and student code writing their attributes changes nothing of the grader's. The grader
never trusts what they compute: every expected value comes from its own copy.
"""
from __future__ import annotations

import numpy as np

from .gradcheck import numerical_gradient
from .remote import LayerModes, StudentNamespace


class Probe(LayerModes):
    """A layer of the checks: `params`, `training`, forward and a numerical backward."""

    label = "Probe"

    def __init__(self, *shapes):
        self.params = [np.zeros(shape) for shape in shapes]
        self.training = True
        self.input = None

    @classmethod
    def holding(cls, params):
        """A probe computing with `params` (the very list, so writes into it are seen)."""
        probe = cls.__new__(cls)
        probe.params, probe.training, probe.input = params, True, None
        if params and cls is Affine:
            probe.label = f"Affine{tuple(np.shape(params[0]))}"
        return probe

    def function(self, x, params):
        raise NotImplementedError

    def forward(self, input):
        self.input = np.array(input, dtype=float)
        return self.function(self.input, self.params)

    def backward(self, grad_output):
        x, g = self.input, np.asarray(grad_output, dtype=float)
        grad_input = numerical_gradient(lambda z: np.sum(self.function(z, self.params) * g),
                                        x.copy())
        grads = []
        for i, param in enumerate(self.params):
            def loss(value, i=i):
                params = [*self.params[:i], value, *self.params[i + 1:]]
                return np.sum(self.function(x, params) * g)
            grads.append(numerical_gradient(loss, np.array(param, dtype=float)).ravel())
        return grad_input, (np.concatenate(grads) if grads else [])

    def __repr__(self):
        return self.label


class Affine(Probe):
    """x W + b: `params = [weights, biases]`."""

    names = ("weights", "biases")

    def __init__(self, n_in, n_out):
        super().__init__((n_in, n_out), (n_out,))
        self.label = f"Affine({n_in}, {n_out})"

    def function(self, x, params):
        weights, biases = params
        return x @ weights + biases


class Wave(Probe):
    """x + sin(x) / 5, elementwise: smooth, increasing, no parameters."""

    names = ()
    label = "Wave()"

    def function(self, x, params):
        return x + 0.2 * np.sin(x)

    def backward(self, grad_output):
        x, h = self.input, 1e-5          # elementwise: one central difference per entry
        slope = (self.function(x + h, []) - self.function(x - h, [])) / (2 * h)
        return np.asarray(grad_output, dtype=float) * slope, []


class Mode(Probe):
    """The identity in eval mode, the negation in training mode: a predict that does not switch
    the network to eval mode gets the other labels."""

    names = ()
    label = "Mode()"

    def function(self, x, params):
        return -x if self.training else x


def network(sizes, rng=None, middle=Wave):
    """[Affine(s0, s1), middle, Affine(s1, s2), ...] with params drawn from `rng` (zeros
    without one)."""
    layers = [Affine(sizes[0], sizes[1])]
    for n_in, n_out in list(zip(sizes, sizes[1:]))[1:]:
        layers += [middle(), Affine(n_in, n_out)]
    if rng is not None:
        for stage in layers:
            for array in stage.params:
                array[...] = rng.normal(size=array.shape)
    return layers


def parameter_names(layers):
    """(layer index, layer label, parameter name, shape) for every parameter, in params order:
    turns an index into the flat gradient into words."""
    return [(i, repr(layer), name, param.shape) for i, layer in enumerate(layers)
            for name, param in zip(layer.names, layer.params)]


def locate(layout, flat_index):
    """'layer 3, Affine(5, 3), weights[1, 2]' for an index into the flat weights."""
    start = 0
    for i, label, name, shape in layout:
        size = int(np.prod(shape))
        if flat_index < start + size:
            entry = np.unravel_index(flat_index - start, shape)
            return f"layer {i + 1} ({label}), {name}[{', '.join(map(str, entry))}]"
        start += size
    return f"entry {flat_index}"


KINDS = {"Affine": Affine, "Wave": Wave, "Mode": Mode}


def test_network(namespace, layers):
    """The layers to hand to student code, params at zero: in the clean room, stand-ins living
    in the student process (grader.sandbox.worker.ParamHolder) that compute as these probes
    do; else private copies of `layers`."""
    zeros = [[np.zeros(np.shape(p)) for p in layer.params] for layer in layers]
    if not isinstance(namespace, StudentNamespace):
        return [type(layer).holding(params) for layer, params in zip(layers, zeros)]
    holders = namespace.make_holders(zeros)
    for holder, layer in zip(holders, layers):
        holder.kind = type(layer).__name__
    return holders
