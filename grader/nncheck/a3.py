"""Assignment 3's checks, by id: the one vocabulary of the notebook's test cells (the id is the
cell's nbgrader grade_id), the student self-check and the grader.

    from nncheck import a3 as check
    check.run("dense_grad_params", globals())    # prints PASS, or raises with the cause

The hidden tests call the same ids with the reference implementation passed in.
"""
from __future__ import annotations

from . import layers as L
from . import network as N
from . import training as T
from .registry import Registry
from .results import need


def _layer(cls_name, which=L.check_layer):
    spec = L.SPECS[cls_name]

    def run(ns, ref, cases=None):
        reference = getattr(ref, cls_name) if ref is not None else None
        return which(spec, need(ns, cls_name), reference, cases=cases)
    return run


def _network(check):
    return lambda ns, ref=None, cases=None: check(ns, cases=cases)


# id -> (task, check(namespace, reference, cases)); in notebook order
CHECKS = {
    "relu": ("ReLU", _layer("ReLU")),
    "sigmoid": ("Sigmoid", _layer("Sigmoid")),
    "tanh": ("Tanh", _layer("Tanh")),
    "leaky_relu": ("LeakyReLU", _layer("LeakyReLU")),
    "elu": ("ELU", _layer("ELU")),
    "dense_forward": ("Dense.forward", _layer("Dense", L.check_forward)),
    "dense_grad_input": ("Dense.backward", _layer("Dense", L.check_input_gradient)),
    "dense_grad_params": ("Dense.backward", _layer("Dense", L.check_param_gradients)),
    "softmax_forward": ("Softmax.forward", _layer("Softmax", L.check_forward)),
    "softmax_backward": ("Softmax.backward", _layer("Softmax", L.check_input_gradient)),
    "crossentropy": ("crossentropy", lambda ns, ref, cases=None: N.check_crossentropy(ns)),
    "grad_crossentropy": ("grad_crossentropy",
                          lambda ns, ref, cases=None: N.check_grad_crossentropy(ns)),
    "dropout_train": ("Dropout", lambda ns, ref, cases=None: L.check_dropout_train(
        need(ns, "Dropout"), cases=cases)),
    "dropout_eval": ("Dropout", lambda ns, ref, cases=None: L.check_dropout_eval(
        need(ns, "Dropout"), cases=cases)),
    "batchnorm_train": ("BatchNorm", _layer("BatchNorm")),
    "batchnorm_eval": ("BatchNorm", lambda ns, ref, cases=None: L.check_batchnorm_eval(
        need(ns, "BatchNorm"), getattr(ref, "BatchNorm", None))),
    "encode": ("encode", lambda ns, ref, cases=None: T.check_encode(ns)),
    "weights": ("get_weights/set_weights", lambda ns, ref, cases=None: N.check_weights(ns)),
    "compute_loss_grad": ("compute_loss_grad", _network(N.check_compute_loss_grad)),
    "predict": ("predict", _network(N.check_predict)),
    "callback": ("Callback", lambda ns, ref, cases=None: T.check_callback(ns)),
    "training": ("training", lambda ns, ref, cases=None: T.check_training(ns, reference=ref)),
    "sgd_momentum": ("sgd_momentum", lambda ns, ref, cases=None: N.check_sgd_momentum(ns)),
    "conv1d": ("Conv1D", _layer("Conv1D")),
}

# id -> the public cases, which the hidden tests extend (grader/hidden/a3.py)
CASES = {
    **{check_id: L.PUBLIC_CASES for check_id in (
        "relu", "sigmoid", "tanh", "leaky_relu", "elu", "dense_forward", "dense_grad_input",
        "dense_grad_params", "softmax_forward", "softmax_backward", "batchnorm_train",
        "conv1d", "dropout_train", "dropout_eval")},
    "compute_loss_grad": N.NETWORK_CASES,
    "predict": N.PREDICT_CASES,
}

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
