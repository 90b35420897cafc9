"""Assignment 3's checks: the reference passes every one, the stubs fail every one cleanly, and
each realistic student bug fails exactly the checks that name the broken piece."""
import numpy as np
import pytest

from grader.nncheck import a3
from grader.samples.a3 import SEED_000_BUGS

from .conftest import layers_module, namespace

FAST = [c for c in a3.CHECKS if c != "training"]

# name -> (replaced solution regions, check ids that must fail: no more, no fewer)
MUTANTS = {
    "dense_bias_not_summed": ({"Dense.backward": """
        return grad_output @ self.weights.T, np.r_[(self.input.T @ grad_output).ravel(), grad_output.ravel()]
    """}, {"dense_grad_params"}),
    "dense_bias_ones_seed000": ({"Dense.backward": SEED_000_BUGS["Dense.backward"]},
                                {"dense_grad_params"}),
    "dense_grad_input_untransposed": ({"Dense.backward": """
        return grad_output @ self.weights[:grad_output.shape[1]], np.r_[(self.input.T @ grad_output).ravel(), grad_output.sum(0)]
    """}, {"dense_grad_input"}),
    "dense_params_wrong_order": ({"Dense.backward": """
        return grad_output @ self.weights.T, np.r_[grad_output.sum(0), (self.input.T @ grad_output).ravel()]
    """}, {"dense_grad_params"}),
    "dense_forward_without_bias": ({"Dense.forward": """
        self.input = input
        return input @ self.weights
    """}, {"dense_forward"}),
    "relu_mask_wrong_side": ({"ReLU.backward": "return grad_output * ~self.mask, []"}, {"relu"}),
    "sigmoid_backward_from_input": ({"Sigmoid.forward": """
        self.input = input
        return 1 / (1 + np.exp(-input))
    """, "Sigmoid.backward": """
        return grad_output * self.input * (1 - self.input), []
    """}, {"sigmoid"}),
    "tanh_backward_from_input": ({"Tanh.forward": "self.input = input\nreturn np.tanh(input)",
                                  "Tanh.backward": "return grad_output * (1 - self.input ** 2), []"},
                                 {"tanh"}),
    "leaky_relu_slope_lost_in_backward": ({"LeakyReLU.backward": "return grad_output * self.mask, []"},
                                          {"leaky_relu"}),
    "elu_backward_without_alpha": ({"ELU.backward": """
        return grad_output * np.where(self.input > 0, 1.0, np.exp(self.input)), []
    """}, {"elu"}),
    "softmax_unstable": ({"Softmax.forward": """
        e = np.exp(input)
        self.out = np.log(e / e.sum(axis=1, keepdims=True))
        return self.out
    """}, {"softmax_forward"}),
    "logsoftmax_backward_identity": ({"Softmax.backward": "return grad_output, []"},
                                     {"softmax_backward"}),
    "crossentropy_sum_not_mean": ({"crossentropy": "return -np.sum(target * activations)"},
                                  {"crossentropy"}),
    "grad_crossentropy_minus_inv_p_seed000": ({"grad_crossentropy": SEED_000_BUGS["grad_crossentropy"]},
                                              {"grad_crossentropy"}),
    "dropout_missing_seed000": ({"Dropout.forward": "pass", "Dropout.backward": "pass"},
                                {"dropout_train", "dropout_eval"}),
    "dropout_not_rescaled": ({"Dropout.forward": """
        if not self.training:
            self.scale = np.ones_like(input)
            return input
        self.scale = (self.rng.random(input.shape) >= self.p).astype(float)
        return input * self.scale
    """}, {"dropout_train"}),
    "dropout_active_in_eval": ({"Dropout.forward": """
        keep = self.rng.random(input.shape) >= self.p
        self.scale = keep / (1.0 - self.p)
        return input * self.scale
    """}, {"dropout_eval"}),
    "dropout_keeps_with_probability_p": ({"Dropout.forward": """
        if not self.training:
            self.scale = np.ones_like(input)
            return input
        self.scale = (self.rng.random(input.shape) < self.p) / self.p
        return input * self.scale
    """}, {"dropout_train"}),
    "batchnorm_backward_missing_stat_terms": ({"BatchNorm.backward": """
        grad_gamma = (grad_output * self.x_hat).sum(axis=0)
        return grad_output * self.gamma * self.inv_std, np.r_[grad_gamma, grad_output.sum(axis=0)]
    """}, {"batchnorm_train"}),
    "batchnorm_eval_uses_batch_stats": ({"BatchNorm.forward": """
        mean, var = input.mean(axis=0), input.var(axis=0)
        if self.training:
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = (input - mean) * self.inv_std
        return self.gamma * self.x_hat + self.beta
    """}, {"batchnorm_eval"}),
    "conv1d_kernel_flipped": ({"Conv1D.forward": """
        t = len(self.kernel) // 2
        self.padded = np.pad(input, ((0, 0), (t, t)))
        windows = np.lib.stride_tricks.sliding_window_view(self.padded, len(self.kernel), axis=1)
        return windows @ self.kernel[::-1] + self.bias
    """, "Conv1D.backward": """
        size = len(self.kernel)
        t = size // 2
        windows = np.lib.stride_tricks.sliding_window_view(self.padded, size, axis=1)
        grad_kernel = np.einsum("bi,bik->k", grad_output, windows)[::-1]
        back = np.lib.stride_tricks.sliding_window_view(np.pad(grad_output, ((0, 0), (t, t))), size, axis=1)
        return back @ self.kernel, np.r_[grad_kernel, grad_output.sum()]
    """}, {"conv1d"}),
    "get_weights_layers_reversed": ({"get_weights": """
        return np.concatenate([p.ravel() for layer in network[::-1] for p in layer.params])
    """}, {"weights"}),
    "set_weights_not_in_place": ({"set_weights": """
        start = 0
        for layer in network:
            for i, param in enumerate(layer.params):
                layer.params[i] = weights[start:start + param.size].reshape(param.shape)
                start += param.size
    """}, {"weights"}),
    "compute_loss_grad_reverse_order": ({"compute_loss_grad": """
        network, X, y = args
        set_weights(weights, network)
        out = forward_pass(network, X)
        grad = grad_crossentropy(out, y)
        grads = []
        for layer in reversed(network):
            grad, grad_params = layer.backward(grad)
            grads.append(np.asarray(grad_params, dtype=float).ravel())
        return crossentropy(out, y), np.concatenate(grads)
    """}, {"compute_loss_grad"}),
    "predict_returns_log_probabilities_seed000": ({"predict": "return forward_pass(network, X)"},
                                                  {"predict"}),
    "predict_in_training_mode": ({"predict": "return forward_pass(network, X).argmax(axis=1)"},
                                 {"predict"}),
    "sgd_without_momentum": ({"sgd_momentum": """
        x = np.array(x0, dtype=float)
        for _ in range(maxiter):
            x = x - lr * np.asarray(fun(x, *args)[1])
            if callback is not None:
                callback(x)
        return {"x": x, "fun": fun(x, *args)[0], "nit": maxiter}
    """}, {"sgd_momentum"}),
}


def failing(module, reference, checks=FAST):
    ns = namespace(module)
    return {c for c in checks if not a3.evaluate(c, ns, reference)}


def test_reference_passes_every_check_public_and_hidden(reference):
    ns = namespace(reference)
    for check in a3.CHECKS:
        assert a3.evaluate(check, ns, reference), check
        assert a3.evaluate(check, ns), check


def test_stub_fails_every_layer_check_cleanly(reference):
    from grader.stubs import STUB_BODY
    stub = layers_module(default=STUB_BODY)
    ns = namespace(stub)
    notebook_level = {"encode", "callback"}
    for check in a3.CHECKS:
        result = a3.evaluate(check, ns, reference)
        if check in notebook_level:
            continue  # the notebook's own cells; the stubs do not touch them
        assert not result, check
        assert result.points == 0
        assert "not implemented yet" in result.message or "NotImplementedError" in result.message, \
            (check, result.message)


def test_at_least_twelve_mutants():
    assert len(MUTANTS) >= 12


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_fails_exactly_its_checks(name, reference):
    bodies, expected = MUTANTS[name]
    assert failing(layers_module(bodies), reference) == expected


def test_every_check_is_killed_by_some_mutant():
    killed = set().union(*(expected for _, expected in MUTANTS.values()))
    missing = set(FAST) - killed - {"encode", "callback"}   # those two: test_notebook_level_bugs
    assert not missing, f"checks no mutant fails: {missing}"


def test_training_check_fails_on_seed000_bugs_and_passes_reference(reference):
    assert a3.evaluate("training", namespace(reference), reference)
    buggy = layers_module(SEED_000_BUGS)
    result = a3.evaluate("training", namespace(buggy), reference)
    assert not result and "below the required 90%" in result.message


def test_notebook_level_bugs(reference):
    ns = namespace(reference)

    def encode_off_by_one(labels):
        out = np.zeros((len(labels), 10))
        out[np.arange(len(labels)), labels - 1] = 1
        return out

    result = a3.evaluate("encode", {**ns, "encode": encode_off_by_one}, reference)
    assert not result and "label k sets column k" in result.message

    class SeedCallback(ns["Callback"]):     # the seed's: test accuracy appended to train_acc
        def call(self, weights):
            super().call(weights)
            self.train_acc.append(self.test_acc.pop())

    result = a3.evaluate("callback", {**ns, "Callback": SeedCallback}, reference)
    assert not result and "test_acc 0" in result.message


@pytest.mark.parametrize("name, needle", [
    ("dense_bias_not_summed", "flat 1-D array of 18 entries"),
    ("dense_bias_ones_seed000", "summed over the batch"),
    ("dense_params_wrong_order", "wrong order"),
    ("grad_crossentropy_minus_inv_p_seed000", "gradient w.r.t. the probabilities"),
    ("softmax_unstable", "numerically stable"),
    ("dropout_not_rescaled", "1 / (1 - p)"),
    ("dropout_keeps_with_probability_p", "probability of *dropping*"),
    ("predict_returns_log_probabilities_seed000", "log-probabilities"),
    ("compute_loss_grad_reverse_order", "reverse order"),
    ("set_weights_not_in_place", "in place"),
    ("conv1d_kernel_flipped", "flipped"),
])
def test_failure_message_names_the_mistake(name, needle, reference):
    bodies, expected = MUTANTS[name]
    ns = namespace(layers_module(bodies))
    public = {c: a3.evaluate(c, ns) for c in expected}
    hidden = {c: a3.evaluate(c, ns, reference) for c in expected}
    messages = " | ".join(r.message for r in [*public.values(), *hidden.values()])
    assert needle in messages


def test_failure_locates_entry_with_analytic_and_numeric(reference):
    result = a3.evaluate("relu", namespace(layers_module(MUTANTS["relu_mask_wrong_side"][0])),
                         reference)
    assert "ReLU.backward: grad_input[" in result.message
    assert "numerical gradient is" in result.message
    assert {"index", "analytic", "numeric"} <= set(result.details)


def test_inputs_mutated_in_place_are_reported(reference):
    bad = layers_module({"ReLU.forward": """
        self.mask = input > 0
        input[~self.mask] = 0
        return input
    """})
    result = a3.evaluate("relu", namespace(bad), reference)
    assert not result and "in place" in result.message
