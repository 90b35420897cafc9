"""Assignment 3's checks, by id: the one vocabulary of the notebook's test cells (the id is the
cell's nbgrader grade_id), the student self-check and the grader.

    from nncheck import a3 as check
    check.run("dense_grad_params", globals())    # prints PASS, or raises with the cause

The hidden tests call the same ids with the reference implementation passed in.
"""
from __future__ import annotations

from . import layer_checks as LC
from . import layers as L
from . import modes as M
from . import network as N
from . import training as T
from .registry import Registry
from .results import need


def _layer(cls_name, which=LC.check_layer):
    """(check(namespace, reference, cases), its public cases) of a layer check of one class."""
    spec = L.SPECS[cls_name]

    def run(ns, ref, cases=None):
        reference = getattr(ref, cls_name) if ref is not None else None
        return which(spec, need(ns, cls_name), reference, cases=cases)
    return run, which.cases


def _on_class(cls_name, which):
    """A check of one class of the namespace that needs no spec and no reference."""
    def run(ns, ref, cases=None):
        return which(need(ns, cls_name), cases=cases)
    return run, which.cases


def _network(which):
    """A check of the namespace's functions, which needs no reference."""
    if which.cases is None:
        return (lambda ns, ref=None, cases=None: which(ns)), None
    return (lambda ns, ref=None, cases=None: which(ns, cases=cases)), which.cases


# id -> (task, (check(namespace, reference, cases), public cases)); in notebook order. The
# public cases are the checks' own (their @check metadata); the hidden tests extend them
# (grader/hidden/a3.py).
_REGISTRY = {
    "relu": ("ReLU", _layer("ReLU")),
    "sigmoid": ("Sigmoid", _layer("Sigmoid")),
    "tanh": ("Tanh", _layer("Tanh")),
    "leaky_relu": ("LeakyReLU", _layer("LeakyReLU")),
    "elu": ("ELU", _layer("ELU")),
    "dense_forward": ("Dense.forward", _layer("Dense", LC.check_forward)),
    "dense_grad_input": ("Dense.backward", _layer("Dense", LC.check_input_gradient)),
    "dense_grad_params": ("Dense.backward", _layer("Dense", LC.check_param_gradients)),
    "softmax_forward": ("Softmax.forward", _layer("Softmax", LC.check_forward)),
    "softmax_backward": ("Softmax.backward", _layer("Softmax", LC.check_input_gradient)),
    "crossentropy": ("crossentropy", _network(N.check_crossentropy)),
    "grad_crossentropy": ("grad_crossentropy", _network(N.check_grad_crossentropy)),
    "dropout_train": ("Dropout", _on_class("Dropout", M.check_dropout_train)),
    "dropout_eval": ("Dropout", _on_class("Dropout", M.check_dropout_eval)),
    "batchnorm_train": ("BatchNorm", _layer("BatchNorm")),
    "batchnorm_eval": ("BatchNorm", (lambda ns, ref, cases=None: M.check_batchnorm_eval(
        need(ns, "BatchNorm"), getattr(ref, "BatchNorm", None)), None)),
    "encode": ("encode", _network(T.check_encode)),
    "weights": ("get_weights/set_weights", _network(N.check_weights)),
    "compute_loss_grad": ("compute_loss_grad", _network(N.check_compute_loss_grad)),
    "predict": ("predict", _network(N.check_predict)),
    "callback": ("Callback", _network(T.check_callback)),
    "training": ("training", (lambda ns, ref, cases=None: T.check_training(ns, reference=ref),
                              None)),
    "sgd_momentum": ("sgd_momentum", _network(N.check_sgd_momentum)),
    "conv1d": ("Conv1D", _layer("Conv1D")),
}

CHECKS = {check_id: (task, run) for check_id, (task, (run, _)) in _REGISTRY.items()}
CASES = {check_id: cases for check_id, (_, (_, cases)) in _REGISTRY.items() if cases}

# The network-level checks run on the checks' own layers and stand-in helpers (isolated alike
# in the public and hidden tests); training cannot be: it trains the student's own network.
DEPENDS = {
    "training": ("relu", "dense_forward", "dense_grad_input", "dense_grad_params",
                 "softmax_forward", "softmax_backward", "crossentropy", "grad_crossentropy",
                 "weights", "compute_loss_grad"),
}
# Without the reference a backward check differentiates the contract's forward where a formula
# gives it (nncheck.layers.LayerSpec.defined), else the student's own: log-softmax's.
PUBLIC_DEPENDS = {"softmax_backward": ("softmax_forward",)}


Registry(CHECKS, CASES, DEPENDS, PUBLIC_DEPENDS).bind(globals())

# The bonus part's cells (autograded and graded by hand), counted apart from the 35 points by
# the notebook, check.py, feedback and the gradebook's readers alike.
BONUS = ("sgd_momentum", "sgd_comparison", "conv_derivation", "conv1d", "quadratic_form")
