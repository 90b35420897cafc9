"""Assignment 3's checks: the reference passes every one, public and hidden; the stubs fail
every one cleanly; the hidden cases cover the edges of every layer; the network-level checks
isolate their function. The realistic wrong implementations are in test_mutants_a3.py."""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from grader.hidden import a3 as hidden
from grader.nncheck import a3, layers, probes
from grader.samples.a3 import SEED_000_BUGS

from .conftest import layers_module, namespace

threadpool_limits(1)


def test_reference_passes_every_check_public_and_hidden(reference):
    ns = namespace(reference)
    for check in a3.CHECKS:
        assert a3.evaluate(check, ns), check
        result = hidden.evaluate(check, ns)
        assert result, (check, result.message)
        assert not result.details.get("integrity"), (check, result.details)


def test_stub_fails_every_layer_check_cleanly(reference):
    from grader.stubs import STUB_BODY
    stub = layers_module(default=STUB_BODY)
    ns = namespace(stub)
    notebook_level = {"encode", "callback"}
    for check in a3.CHECKS:
        if check in notebook_level:
            continue  # the notebook's own cells; the stubs do not touch them
        for result in (a3.evaluate(check, ns), hidden.evaluate(check, ns)):
            assert not result, check
            assert result.points == 0
            assert "NotImplementedError" in result.message, (check, result.message)


def test_hidden_cases_cover_the_edges_of_every_layer():
    """A batch of one row and a single feature for every layer check, wide and tall inputs for
    the ones that take any width, and inputs just off the kink where there is one."""
    for check_id in ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "dense_forward",
                     "dense_grad_input", "dense_grad_params", "softmax_forward",
                     "softmax_backward", "batchnorm_train", "conv1d", "dropout_train",
                     "dropout_eval"):
        dims = [d for _, d in hidden.cases(check_id)]
        assert any(d.get("batch") == 1 for d in dims), check_id
        assert any(d.get("units") == 1 for d in dims), check_id
    for check_id, spec in (("relu", "ReLU"), ("leaky_relu", "LeakyReLU"), ("elu", "ELU")):
        assert layers.SPECS[spec].kink is not None
        assert any(d.get("near_kink") for _, d in hidden.cases(check_id)), check_id
    seeds = {check_id: [s for s, _ in hidden.cases(check_id)] for check_id in a3.CASES}
    assert all(len(set(s)) == len(s) for s in seeds.values())


def test_the_network_checks_hand_out_no_course_layer_and_not_the_notebooks_architecture():
    """compute_loss_grad, predict and Callback run on the checks' own test layers, whose sizes
    are not the notebook's 64-32-32-10 (its global network cannot stand in)."""
    from grader.nncheck import network, training
    assert training.CALLBACK_SIZES[0] == 64 and training.CALLBACK_SIZES != (64, 32, 32, 10)
    for _, dims in network.NETWORK_CASES + hidden.EXTRA["compute_loss_grad"]:
        assert dims["sizes"] != (64, 32, 32, 10)
    for layer in probes.network((4, 5, 3), np.random.default_rng(0)):
        assert type(layer).__name__ not in layers.SPECS


def test_training_check_fails_on_seed000_bugs_and_passes_reference(reference):
    assert a3.evaluate("training", namespace(reference))
    buggy = namespace(layers_module(SEED_000_BUGS))
    for result in (a3.evaluate("training", buggy), hidden.evaluate("training", buggy)):
        assert not result
        assert result.details["caused_by"] == ["dense_grad_params", "grad_crossentropy"]
        assert "L-BFGS-B was not given the network's gradient" in result.message


def test_training_follows_the_same_path_in_the_checks_pixel_order(reference):
    """The check's own order of the pixels, with the first layer's rows permuted alike, trains
    exactly as the original order does: the threshold study (docs/threshold.md) holds."""
    from grader.nncheck import training
    ns = vars(reference)
    data = training.digits()
    shuffled = training.shuffled(data)
    order = training.pixel_order()
    plain, permuted = training.build_network(ns, 0), training.build_network(ns, 0, order)
    X = data[0][:50]
    assert np.allclose(reference.forward_pass(plain, X),
                       reference.forward_pass(permuted, shuffled[0][:50]), atol=1e-12)


NUMERIC_FORWARDS = {
    "Tanh": "self.input = input\nreturn np.tanh(input)",
    "Dense": "self.input = input\nreturn input @ self.weights + self.biases",
    "Softmax": "self.input = input\nreturn input - logsumexp(input, axis=1, keepdims=True)",
}


@pytest.mark.parametrize("check_id", ["tanh", "dense_grad_params", "softmax_backward"])
def test_a_numerical_backward_is_flagged_with_evidence(check_id):
    """A backward that differentiates its own forward numerically passes (the course decides
    what it costs: hidden.NUMERICAL_BACKWARD) but the result carries the evidence: forward
    called during backward (public and hidden), and a precision no analytic backward has
    (hidden, against the reference)."""
    layer = a3.CHECKS[check_id][0].split(".")[0]
    from tests.hostile.cases import NUMERIC_BACKWARD      # the corpus's: one definition
    module = layers_module({f"{layer}.forward": NUMERIC_FORWARDS[layer],
                            f"{layer}.backward": "return _numeric_backward(self, grad_output)"})
    exec(NUMERIC_BACKWARD, vars(module))
    ns = namespace(module)
    public, secret = a3.evaluate(check_id, ns), hidden.evaluate(check_id, ns)
    assert public.passed and "called forward" in public.details.get("integrity", "")
    assert secret.passed and "finite differences" in secret.details.get("integrity", "")
    assert "agree with the analytic ones only to" in secret.details["integrity"]
