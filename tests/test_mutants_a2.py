"""Assignment 2's mutation tests: realistic wrong answers, each failing exactly the checks
that name it (public cases and hidden cases) with a message that names the mistake (NEEDLES).
The correct answers and the helpers are test_checks_a2.py's."""
import numpy as np

from grader.nncheck import a2

from . import mutation

from .test_checks_a2 import (SLOW, AddGate, CopyGate, MaxGate, MultiplyGate, failing,
                             hidden_cases, namespace, neuron_flat, sigmoid,
                             svm_loss_naive, svm_loss_vectorized)

class AddLocalOnly(AddGate):
    def backward(self, dz):
        return 1.0, 1.0                       # the local gradient, upstream forgotten


class AddFirstOnly(AddGate):
    def backward(self, dz):
        return dz, 0.0


class MultiplyNoSwap(MultiplyGate):
    def backward(self, dz):
        return self.x * dz, self.y * dz


class MaxToSmaller(MaxGate):
    def backward(self, dz):
        return (0.0, dz) if self.x_wins else (dz, 0.0)


class MaxToBoth(MaxGate):
    def backward(self, dz):
        return dz, dz


class MaxStateOnClass:
    def forward(self, x, y):
        MaxStateOnClass.x_wins = x >= y        # shared by every instance
        return max(x, y)

    def backward(self, dz):
        return (dz, 0.0) if MaxStateOnClass.x_wins else (0.0, dz)


class MultiplyStaleInputs(MultiplyGate):
    def forward(self, x, y):
        if not hasattr(self, "x"):             # keeps the inputs of the first forward
            self.x, self.y = x, y
        return x * y


class CopyFirstOnly(CopyGate):
    def backward(self, dz1, dz2):
        return dz1


class CopyMultiplies(CopyGate):
    def backward(self, dz1, dz2):
        return dz1 * dz2


def _simple_lecture_only(x, y, z):
    return -12.0, (-4.0, -4.0, 3.0)


def _simple_local_only(x, y, z):
    return (x + y) * z, (1.0, 1.0, x + y)


def _neuron_local_from_input(w, x):
    s3 = w[0] * x[0] + w[1] * x[1] + w[2]
    L = sigmoid(s3)
    grad_s3 = (1 - s3) * s3
    return L, grad_s3, grad_s3 * np.array([x[0], x[1], 1.0]), grad_s3 * np.array([w[0], w[1]])


def _neuron_no_swap(w, x):
    L, grad_s3, grad_w, grad_x = neuron_flat(w, x)
    return L, grad_s3, grad_s3 * np.array([w[0], w[1], 1.0]), grad_s3 * np.array([x[0], x[1]])


def _neuron_w2_unit(w, x):
    L, grad_s3, grad_w, grad_x = neuron_flat(w, x)
    return L, grad_s3, np.array([grad_w[0], grad_w[1], 1.0]), grad_x


def _neuron_lecture_only(w, x):
    return 0.7310585786300049, 0.19661193324148185, np.array([-0.2, -0.39, 0.2]), \
        np.array([0.39, -0.59])


def _neuron_forgot_bias(w, x):
    s = w[0] * x[0] + w[1] * x[1]
    L = sigmoid(s)
    g = (1 - L) * L
    return L, g, g * np.array([x[0], x[1], 1.0]), g * np.array([w[0], w[1]])


def _normWx_seed_004(W, x):                     # "2^k q_i x_j": the outer product, transposed
    q = W @ x
    return q @ q, 2 * np.outer(x, q), W.T @ (2 * q)


def _normWx_x_missing_factor(W, x):
    q = W @ x
    return q @ q, 2 * np.outer(q, x), W.T @ q


def _matmul_w_transposed(x, w, grad_y):
    return grad_y @ w.T, grad_y.T @ x


def _matmul_x_averaged(x, w, grad_y):
    return grad_y @ w.T / len(x), x.T @ grad_y


def _svm_counts_correct_class(W, X, y, reg):
    loss, dW = svm_loss_naive(W, X, y, reg)
    return loss + 1.0, dW                      # the j == y_i term is always 1


def _svm_no_reg_in_grad(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    return loss, dW - 2 * reg * W


def _svm_sum_not_mean(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, 0.0)
    return loss * len(X) + reg * np.sum(W * W), dW * len(X) + 2 * reg * W


def _svm_half_reg(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, 0.0)
    return loss + 0.5 * reg * np.sum(W * W), dW + reg * W


def _svm_no_correct_class_column(W, X, y, reg):
    n = len(X)
    scores = X @ W
    margins = np.maximum(0, scores - scores[np.arange(n), y][:, None] + 1)
    margins[np.arange(n), y] = 0
    return margins.sum() / n + reg * np.sum(W * W), X.T @ (margins > 0) / n + 2 * reg * W


def _svm_signs_swapped(W, X, y, reg):
    n = len(X)
    scores = X @ W
    margins = np.maximum(0, scores[np.arange(n), y][:, None] - scores + 1)
    margins[np.arange(n), y] = 0
    return margins.sum() / n + reg * np.sum(W * W), svm_loss_vectorized(W, X, y, reg)[1]


def _training(mode):
    def train(x, y, hidden, n_iter, lr, seed=0):
        rng = np.random.default_rng(seed)
        w1 = rng.standard_normal((x.shape[1], hidden))
        w2 = rng.standard_normal((hidden, y.shape[1]))
        if mode == "global_rng":
            w1, w2 = np.random.randn(x.shape[1], hidden), np.random.randn(hidden, y.shape[1])
        for _ in range(n_iter):
            h = 1 / (1 + np.exp(-x @ w1))
            y_pred = h @ w2
            grad_y_pred = (1.0 if mode == "no_factor_2" else 2.0) * (y_pred - y)
            grad_w2 = h.T @ grad_y_pred
            grad_h = grad_y_pred @ w2.T
            grad_w1 = x.T @ (grad_h if mode == "no_sigmoid_grad" else grad_h * h * (1 - h))
            if mode == "ascent_w1":
                grad_w1 = -grad_w1
            if mode != "only_w2":
                w1 = w1 - lr * grad_w1
            w2 = w2 - lr * grad_w2
        return w1, w2, []
    return train


def _net_forward_transposed(X, W1, W2, W3):
    return sigmoid(sigmoid(X @ W1.T) @ W2.T) @ W3


def _net_backward(mistake):
    def backward(X, W1, W2, W3, grad_yhat):
        O1 = sigmoid(X @ W1)
        O2 = sigmoid(O1 @ W2)
        d = grad_yhat
        dW3 = O2.T @ d
        d = d @ W3.T * (1 if mistake == "no_activation_grad" else O2 * (1 - O2))
        dW2 = d.T @ O1 if mistake == "dW_transposed" else O1.T @ d
        H1 = X @ W1
        d = d @ W2.T * (H1 * (1 - H1) if mistake == "grad_from_preactivation" else O1 * (1 - O1))
        return X.T @ d, dW2, dW3
    return backward



MUTANTS = {
    "add_local_gradient_only": ({"AddGate": AddLocalOnly}, {"add_gate"}),
    "add_first_input_only": ({"AddGate": AddFirstOnly}, {"add_gate"}),
    "multiply_no_swap": ({"MultiplyGate": MultiplyNoSwap}, {"multiply_gate"}),
    "multiply_stale_inputs": ({"MultiplyGate": MultiplyStaleInputs}, {"multiply_gate"}, set()),
    "max_routes_to_smaller": ({"MaxGate": MaxToSmaller}, {"max_gate"}),
    "max_routes_to_both": ({"MaxGate": MaxToBoth}, {"max_gate"}),
    "max_state_on_class": ({"MaxGate": MaxStateOnClass}, {"max_gate"}, set()),
    "copy_first_only": ({"CopyGate": CopyFirstOnly}, {"copy_gate"}),
    "copy_multiplies": ({"CopyGate": CopyMultiplies}, {"copy_gate"}),
    "simple_lecture_numbers_hard_coded": ({"simple_graph": _simple_lecture_only},
                                          {"simple_graph"}, set()),
    "simple_local_gradients_only": ({"simple_graph": _simple_local_only}, {"simple_graph"}),
    "neuron_local_grad_from_input": ({"neuron_flat": _neuron_local_from_input},
                                     {"neuron_local_grad", "neuron_gradients"}),
    "neuron_multiply_no_swap": ({"neuron_flat": _neuron_no_swap}, {"neuron_gradients"}),
    "neuron_bias_grad_one": ({"neuron_flat": _neuron_w2_unit}, {"neuron_gradients"}),
    "neuron_forgot_bias": ({"neuron_flat": _neuron_forgot_bias},
                           {"neuron_forward", "neuron_local_grad", "neuron_gradients"}),
    "neuron_lecture_numbers_hard_coded": (
        {"neuron_flat": _neuron_lecture_only}, {"neuron_forward", "neuron_local_grad",
                                                "neuron_gradients"}, {"neuron_gradients"}),
    "normWx_seed_004_transposed": ({"normWx_backprop": _normWx_seed_004}, {"backprop_normWx"}),
    "normWx_x_missing_factor_2": ({"normWx_backprop": _normWx_x_missing_factor},
                                  {"backprop_normWx"}),
    "matmul_grad_w_transposed": ({"matmul_backward": _matmul_w_transposed}, {"matmul_grad_w"}),
    "matmul_grad_x_averaged": ({"matmul_backward": _matmul_x_averaged}, {"matmul_grad_x"}),
    "svm_counts_correct_class": ({"svm_loss_naive": _svm_counts_correct_class},
                                 {"svm_naive_loss"}),
    "svm_grad_without_reg": ({"svm_loss_vectorized": _svm_no_reg_in_grad},
                             {"svm_vectorized_grad"}),
    "svm_sum_not_mean": ({"svm_loss_vectorized": _svm_sum_not_mean}, {"svm_vectorized_loss"}),
    "svm_half_reg": ({"svm_loss_naive": _svm_half_reg}, {"svm_naive_loss", "svm_naive_grad"}),
    "svm_grad_misses_correct_class": ({"svm_loss_vectorized": _svm_no_correct_class_column},
                                      {"svm_vectorized_grad"}),
    "svm_margin_signs_swapped": ({"svm_loss_vectorized": _svm_signs_swapped},
                                 {"svm_vectorized_loss", "svm_vectorized_grad"}),
    "train_no_sigmoid_grad": ({"train_two_layer": _training("no_sigmoid_grad")},
                              {"two_layer_step", "two_layer_training"}),
    "train_no_factor_2": ({"train_two_layer": _training("no_factor_2")},
                          {"two_layer_step", "two_layer_training"}, {"two_layer_step"}),
    "train_global_rng": ({"train_two_layer": _training("global_rng")}, {"two_layer_step"}),
    "train_only_w2": ({"train_two_layer": _training("only_w2")},
                      {"two_layer_step", "two_layer_training"}),
    "train_ascent_w1": ({"train_two_layer": _training("ascent_w1")},
                        {"two_layer_step", "two_layer_training"}),
    "net_forward_transposed": ({"net2221_forward": _net_forward_transposed},
                               {"net2221_forward"}),
    "net_backward_no_activation_grad": ({"net2221_backward": _net_backward("no_activation_grad")},
                                        {"net2221_backward"}),
    "net_backward_dW_transposed": ({"net2221_backward": _net_backward("dW_transposed")},
                                   {"net2221_backward"}),
    "net_backward_grad_from_preactivation": (
        {"net2221_backward": _net_backward("grad_from_preactivation")}, {"net2221_backward"}),
}


# mutant -> what its messages must say: the mistake, not only where
NEEDLES = {
    'add_local_gradient_only': 'the local gradient alone',
    'add_first_input_only': 'gradient distributor',
    'multiply_no_swap': 'times the *other* input',
    'multiply_stale_inputs': 'the inputs of the latest forward',
    'max_routes_to_smaller': 'gradient router',
    'max_routes_to_both': 'gradient router',
    'max_state_on_class': 'not on the class',
    'copy_first_only': 'through both copies',
    'copy_multiplies': 'gradient adder',
    'simple_lecture_numbers_hard_coded': "the lecture's value",
    'simple_local_gradients_only': 'upstream gradient times local gradient',
    'neuron_local_grad_from_input': 'with s3 where the output L belongs',
    'neuron_multiply_no_swap': 'the multiply gates swap',
    'neuron_bias_grad_one': 'dL/dw2 = grad_s3',
    'neuron_forgot_bias': 'the bias w2 is missing',
    'neuron_lecture_numbers_hard_coded': "the lecture's numbers",
    'normWx_seed_004_transposed': 'transpose of the right gradient',
    'normWx_x_missing_factor_2': 'factor of 0.5',
    'matmul_grad_w_transposed': 'transpose of the right gradient',
    'matmul_grad_x_averaged': 'factor of 0.5',
    'svm_counts_correct_class': 'sum over j != y_i only',
    'svm_grad_without_reg': '2 * reg * W',
    'svm_sum_not_mean': 'mean over the samples',
    'svm_half_reg': 'reg * sum(W**2)',
    'svm_grad_misses_correct_class': "the correct class's column is missing",
    'svm_margin_signs_swapped': 'the margins are reversed',
    'train_no_sigmoid_grad': "the sigmoid's derivative h (1 - h) is missing",
    'train_no_factor_2': 'factor of 0.5',
    'train_global_rng': 'np.random.default_rng(seed)',
    'train_only_w2': 'update both weight matrices',
    'train_ascent_w1': 'wrong sign',
    'net_forward_transposed': 'each neuron is a column of its weight matrix',
    'net_backward_no_activation_grad': "the activation's derivative is missing",
    'net_backward_dW_transposed': 'transpose of the right gradient',
    'net_backward_grad_from_preactivation': 'written with H where the output belongs',
}


def reachable(overrides):
    return [c for c in a2.CHECKS if c not in SLOW or "train_two_layer" in overrides]


(test_mutant_fails_exactly_its_checks, test_mutant_message_names_the_mistake,
 test_every_mutant_has_its_hint_and_every_check_a_mutant,
 test_check_py_estimate_is_the_autograde_score) = mutation.tests(
    a2, MUTANTS, NEEDLES, namespace, failing, hidden_cases, reachable, "a2_backprop")
