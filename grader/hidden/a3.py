"""Assignment 3's hidden tests: each public check id, run against the reference layers, on the
public cases plus the edges: a batch of one row, one feature, wide and tall inputs, inputs just
off a kink (where the reference's analytic gradient, not a finite difference, decides), other
Dense and kernel sizes, a deeper network and a one-row batch for the network-level checks."""
from source_layers import layers as reference

from grader.hidden import with_extra_cases
from grader.nncheck import a3 as public

_EDGES = ((10, {"batch": 1}), (11, {"units": 1}), (12, {"batch": 2, "units": 9}),
          (13, {"batch": 9, "units": 2}))
_KINK = ((14, {"near_kink": True}),)
_DENSE = ((10, {"batch": 1}), (11, {"units": 1}), (12, {"out": 1}),
          (13, {"batch": 2, "units": 9, "out": 4}), (14, {"batch": 9, "units": 2, "out": 6}))
_CONV = ((10, {"batch": 1}), (11, {"units": 1}), (12, {"batch": 2, "units": 9, "kernel": 5}),
         (13, {"batch": 9, "units": 2, "kernel": 1}))
_ROWS = ((10, {"batch": 1}), (11, {"units": 1}))

EXTRA = {
    "relu": _EDGES + _KINK, "sigmoid": _EDGES, "tanh": _EDGES, "leaky_relu": _EDGES + _KINK,
    "elu": _EDGES + _KINK,
    "dense_forward": _DENSE, "dense_grad_input": _DENSE, "dense_grad_params": _DENSE,
    "softmax_forward": _EDGES, "softmax_backward": _EDGES, "batchnorm_train": _EDGES,
    "conv1d": _CONV, "dropout_train": _ROWS, "dropout_eval": _ROWS,
    "compute_loss_grad": ((10, {"batch": 1, "sizes": (4, 5, 3)}),
                          (11, {"batch": 5, "sizes": (3, 6, 4, 2)})),
    "predict": ((10, {"batch": 1}),),
}

#: What a backward computed by finite differences of forward costs: the course's call.
#: "flag" keeps the points and flags the submission for the instructor, with the evidence;
#: "fail" also takes the check's points.
NUMERICAL_BACKWARD = "flag"

cases, _evaluate, _run = with_extra_cases(public, EXTRA, reference)


def evaluate(check_id, namespace):
    result = _evaluate(check_id, namespace)
    if NUMERICAL_BACKWARD == "fail" and result.passed and result.details.get("integrity"):
        result.passed, result.points = False, 0.0
        result.message = result.details["integrity"]
    return result


def run(check_id, namespace):
    _run(check_id, namespace)
