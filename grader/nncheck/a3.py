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
    "crossentropy": ("crossentropy", lambda ns, ref, cases=None: N.check_crossentropy(ns, ref)),
    "grad_crossentropy": ("grad_crossentropy",
                          lambda ns, ref, cases=None: N.check_grad_crossentropy(ns, ref)),
    "dropout_train": ("Dropout", lambda ns, ref, cases=None: L.check_dropout_train(need(ns, "Dropout"))),
    "dropout_eval": ("Dropout", lambda ns, ref, cases=None: L.check_dropout_eval(need(ns, "Dropout"))),
    "batchnorm_train": ("BatchNorm", _layer("BatchNorm")),
    "batchnorm_eval": ("BatchNorm", lambda ns, ref, cases=None: L.check_batchnorm_eval(
        need(ns, "BatchNorm"), getattr(ref, "BatchNorm", None))),
    "encode": ("encode", lambda ns, ref, cases=None: T.check_encode(ns)),
    "weights": ("get_weights/set_weights", lambda ns, ref, cases=None: N.check_weights(ns, ref)),
    "compute_loss_grad": ("compute_loss_grad",
                          lambda ns, ref, cases=None: N.check_compute_loss_grad(ns, ref)),
    "predict": ("predict", lambda ns, ref, cases=None: N.check_predict(ns, ref)),
    "callback": ("Callback", lambda ns, ref, cases=None: T.check_callback(ns)),
    "training": ("training", lambda ns, ref, cases=None: T.check_training(ns, reference=ref)),
    "sgd_momentum": ("sgd_momentum", lambda ns, ref, cases=None: N.check_sgd_momentum(ns)),
    "conv1d": ("Conv1D", _layer("Conv1D")),
}


Registry(CHECKS).bind(globals())
