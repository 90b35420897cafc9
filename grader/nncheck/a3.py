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
from .network import need
from .results import guarded


def _layer(cls_name, which=L.check_layer):
    spec = L.SPECS[cls_name]

    def run(ns, ref):
        reference = getattr(ref, cls_name) if ref is not None else None
        return which(spec, need(ns, cls_name), reference)
    return run


# id -> (task, check(namespace, reference)); in notebook order
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
    "crossentropy": ("crossentropy", N.check_crossentropy),
    "grad_crossentropy": ("grad_crossentropy", N.check_grad_crossentropy),
    "dropout_train": ("Dropout", lambda ns, ref: L.check_dropout_train(need(ns, "Dropout"))),
    "dropout_eval": ("Dropout", lambda ns, ref: L.check_dropout_eval(need(ns, "Dropout"))),
    "batchnorm_train": ("BatchNorm", _layer("BatchNorm")),
    "batchnorm_eval": ("BatchNorm", lambda ns, ref: L.check_batchnorm_eval(
        need(ns, "BatchNorm"), getattr(ref, "BatchNorm", None))),
    "encode": ("encode", lambda ns, ref: T.check_encode(ns)),
    "weights": ("get_weights/set_weights", N.check_weights),
    "compute_loss_grad": ("compute_loss_grad", N.check_compute_loss_grad),
    "predict": ("predict", N.check_predict),
    "callback": ("Callback", lambda ns, ref: T.check_callback(ns)),
    "training": ("training", lambda ns, ref: T.check_training(ns)),
    "sgd_momentum": ("sgd_momentum", lambda ns, ref: N.check_sgd_momentum(ns)),
    "conv1d": ("Conv1D", _layer("Conv1D")),
}


def evaluate(check_id, namespace, reference=None):
    """The CheckResult of one check; never raises for anything the student's code does."""
    task, check = CHECKS[check_id]
    result = guarded(check_id, 0.0, lambda: check(namespace, reference))
    result.name = check_id
    result.details.setdefault("task", task)
    return result


def run(check_id, namespace, reference=None, quiet=False):
    """Evaluate, print the outcome, and raise AssertionError on failure (a test cell)."""
    result = evaluate(check_id, namespace, reference)
    if not quiet:
        print(result)
    return result.require()
