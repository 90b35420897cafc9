"""Assignment 2's checks, by id: the one vocabulary of the notebook's test cells (the id is the
cell's nbgrader grade_id), the student self-check and the grader.

    from nncheck import a2 as check
    check.run("multiply_gate", globals())    # prints PASS, or raises with the cause

There is no reference implementation: gradients are compared with numerical gradients, the
SVM loss with properties that determine it, training with the loss the check computes from
the returned weights. The hidden tests run the same ids on more cases (other seeds and shapes).
"""
from __future__ import annotations

from . import graphs as G
from .registry import Registry


def _with_cases(check, *args):
    return lambda ns, ref=None, cases=None: check(*args, ns, cases)


# id -> (task, check(namespace, reference, cases=None), public cases); in notebook order
_REGISTRY = {
    "add_gate": ("AddGate", _with_cases(G.check_gate, "AddGate"), G.GATE_CASES),
    "multiply_gate": ("MultiplyGate", _with_cases(G.check_gate, "MultiplyGate"), G.GATE_CASES),
    "max_gate": ("MaxGate", _with_cases(G.check_gate, "MaxGate"), G.GATE_CASES),
    "copy_gate": ("CopyGate", _with_cases(G.check_copy_gate), G.GATE_CASES),
    "simple_graph": ("simple_graph", _with_cases(G.check_simple_graph), G.SIMPLE_CASES),
    "neuron_forward": ("neuron_flat", _with_cases(G.check_neuron, "forward"), G.NEURON_CASES),
    "neuron_local_grad": ("neuron_flat", _with_cases(G.check_neuron, "local"), G.NEURON_CASES),
    "neuron_gradients": ("neuron_flat", _with_cases(G.check_neuron, "gradients"),
                         G.NEURON_CASES),
    "backprop_normWx": ("normWx_backprop", _with_cases(G.check_backprop_normWx), G.NORM_CASES),
    "matmul_grad_x": ("matmul_backward", _with_cases(G.check_matmul, "x"), G.MATMUL_CASES),
    "matmul_grad_w": ("matmul_backward", _with_cases(G.check_matmul, "w"), G.MATMUL_CASES),
    "svm_naive_loss": ("svm_loss_naive", _with_cases(G.check_svm_loss, "svm_loss_naive"),
                       G.SVM_CASES),
    "svm_naive_grad": ("svm_loss_naive", _with_cases(G.check_svm_grad, "svm_loss_naive"),
                       G.SVM_CASES),
    "svm_vectorized_loss": ("svm_loss_vectorized",
                            _with_cases(G.check_svm_loss, "svm_loss_vectorized"), G.SVM_CASES),
    "svm_vectorized_grad": ("svm_loss_vectorized",
                            _with_cases(G.check_svm_grad, "svm_loss_vectorized"), G.SVM_CASES),
    "two_layer_step": ("train_two_layer", _with_cases(G.check_two_layer_step), G.STEP_CASES),
    "two_layer_training": ("train_two_layer", _with_cases(G.check_two_layer_training),
                           G.TRAIN_CASES),
    "net2221_forward": ("net2221_forward", _with_cases(G.check_net_forward), G.NET_CASES),
    "net2221_backward": ("net2221_backward", _with_cases(G.check_net_backward), G.NET_CASES),
}

CHECKS = {check_id: (task, check) for check_id, (task, check, _) in _REGISTRY.items()}

# id -> the public cases ((seed, dims), ...), which the hidden tests extend
CASES = {check_id: cases for check_id, (_, _, cases) in _REGISTRY.items()}


# a check whose answer is built on another task's: when that one fails, it is the cause
DEPENDS = {"simple_graph": ("add_gate", "multiply_gate"),
           "two_layer_training": ("two_layer_step",)}


Registry(CHECKS, CASES, DEPENDS).bind(globals())
