"""Assignment 2's checks, by id: the one vocabulary of the notebook's test cells (the id is the
cell's nbgrader grade_id), the student self-check and the grader.

    from nncheck import a2 as check
    check.run("multiply_gate", globals())    # prints PASS, or raises with the cause

There is no reference implementation: gradients are compared with numerical gradients, the
SVM loss with properties that determine it, training with the loss the check computes from
the returned weights. The hidden tests run the same ids on more cases (other seeds and shapes).
"""
from __future__ import annotations

from . import gates, neuron, sigmoid_nets, svm, vectorized
from .registry import Registry


def _entry(task, check, *args):
    """(task, check(namespace, reference, cases=None), public cases): the cases are the
    check's own (its @check metadata)."""
    return task, (lambda ns, ref=None, cases=None: check(*args, ns, cases)), check.cases


# id -> (task, check(namespace, reference, cases=None), public cases); in notebook order
_REGISTRY = {
    "add_gate": _entry("AddGate", gates.check_gate, "AddGate"),
    "multiply_gate": _entry("MultiplyGate", gates.check_gate, "MultiplyGate"),
    "max_gate": _entry("MaxGate", gates.check_gate, "MaxGate"),
    "copy_gate": _entry("CopyGate", gates.check_copy_gate),
    "simple_graph": _entry("simple_graph", gates.check_simple_graph),
    "neuron_forward": _entry("neuron_flat", neuron.check_neuron, "forward"),
    "neuron_local_grad": _entry("neuron_flat", neuron.check_neuron, "local_grad"),
    "neuron_gradients": _entry("neuron_flat", neuron.check_neuron, "gradients"),
    "backprop_normWx": _entry("normWx_backprop", vectorized.check_backprop_normWx),
    "matmul_grad_x": _entry("matmul_backward", vectorized.check_matmul, "x"),
    "matmul_grad_w": _entry("matmul_backward", vectorized.check_matmul, "w"),
    "svm_naive_loss": _entry("svm_loss_naive", svm.check_svm_loss, "naive"),
    "svm_naive_grad": _entry("svm_loss_naive", svm.check_svm_grad, "naive"),
    "svm_vectorized_loss": _entry("svm_loss_vectorized", svm.check_svm_loss, "vectorized"),
    "svm_vectorized_grad": _entry("svm_loss_vectorized", svm.check_svm_grad, "vectorized"),
    "two_layer_step": _entry("train_two_layer", sigmoid_nets.check_two_layer_step),
    "two_layer_training": _entry("train_two_layer", sigmoid_nets.check_two_layer_training),
    "net2221_forward": _entry("net2221_forward", sigmoid_nets.check_net_forward),
    "net2221_backward": _entry("net2221_backward", sigmoid_nets.check_net_backward),
}

CHECKS = {check_id: (task, check) for check_id, (task, check, _) in _REGISTRY.items()}

# id -> the public cases ((seed, dims), ...), which the hidden tests extend
CASES = {check_id: cases for check_id, (_, _, cases) in _REGISTRY.items()}


# a check whose answer is built on another task's: when that one fails, it is the cause
DEPENDS = {"simple_graph": ("add_gate", "multiply_gate"),
           "two_layer_training": ("two_layer_step",)}


Registry(CHECKS, CASES, DEPENDS).bind(globals())
