"""Assignment 2's hidden tests: each public check id on the public cases plus harder ones.

The checks have no reference implementation, so the hidden variant differs only in its inputs:
random points besides the lecture's numbers (a hard-coded answer fails), gates used through two
instances and a repeated forward, tall, wide and square shapes, one-row batches, other layer
sizes for the "2-2-2-1" network, other data and seeds for training.
"""
from grader.hidden import with_extra_cases
from grader.nncheck import a2 as public

_GATES = ((10, {"interleave": True}), (11, {"interleave": True}), (12, {"interleave": True}),
          (13, {}), (14, {}))
_POINTS = ((10, None), (11, None), (12, None), (13, None))
_MATMUL = ((10, {"N": 1, "D": 3, "M": 5}), (11, {"N": 4, "D": 5, "M": 2}),
           (12, {"N": 5, "D": 5, "M": 5}), (13, {"N": 2, "D": 1, "M": 3}))
_SVM = ((10, {"N": 12, "D": 6, "C": 5}), (11, {"N": 5, "D": 7, "C": 2}),
        (12, {"N": 9, "D": 4, "C": 6}), (13, {"N": 1, "D": 3, "C": 3}))
_NET = ((10, {"n": 5, "d": 3, "h1": 4, "h2": 2}), (11, {"n": 3, "d": 2, "h1": 2, "h2": 5}),
        (12, {"n": 6, "d": 2, "h1": 2, "h2": 2}), (13, {"n": 2, "d": 4, "h1": 3, "h2": 3}))

EXTRA = {
    "add_gate": _GATES,
    "multiply_gate": _GATES,
    "max_gate": _GATES,
    "copy_gate": _GATES,
    "simple_graph": _POINTS,
    "neuron_forward": _POINTS,
    "neuron_local_grad": _POINTS,
    "neuron_gradients": _POINTS,
    "backprop_normWx": ((10, {"m": 5, "n": 2}), (11, {"m": 2, "n": 6}), (12, {"m": 5, "n": 5}),
                        (13, {"m": 1, "n": 3})),
    "matmul_grad_x": _MATMUL,
    "matmul_grad_w": _MATMUL,
    "svm_naive_loss": _SVM,
    "svm_naive_grad": _SVM,
    "svm_vectorized_loss": _SVM,
    "svm_vectorized_grad": _SVM,
    "two_layer_step": ((10, {"N": 6, "D": 4, "H": 5, "C": 2}),
                       (11, {"N": 10, "D": 3, "H": 3, "C": 4})),
    "two_layer_training": ((10, {"N": 64, "D": 30, "H": 32, "C": 5}),
                           (11, {"N": 48, "D": 20, "H": 24, "C": 3})),
    "net2221_forward": _NET,
    "net2221_backward": _NET,
}


cases, evaluate, run = with_extra_cases(public, EXTRA)
