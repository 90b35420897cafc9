"""Assignment 3's mutation tests: realistic wrong implementations, each losing exactly the
checks that name the broken piece (public and hidden), with a message that names it and,
where the mistake is a known one, says which.

A mutant replaces solution regions of layers.py (`bodies`) and/or the notebook's own code
(`notebook`: encode, Callback). Kinds: plain bugs, arrays changed in place, bugs that only a
batch of one row or a single feature shows (hidden cases), code reading the notebook's
globals, and knock-ons (a bug in one piece must not fail the checks of another that uses it,
except `training`, which says which check is the cause).
"""
from dataclasses import dataclass, field

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from grader.hidden import a3 as hidden
from grader.nncheck import a3
from grader.samples.a3 import SEED_000_BUGS

from .conftest import layers_module, reference_body

threadpool_limits(1)        # tiny matrices: one BLAS thread, as in the grader's workers

TRAINING_TASKS = {"Dense.forward", "Dense.backward", "ReLU.forward", "ReLU.backward",
                  "Softmax.forward", "Softmax.backward", "crossentropy", "grad_crossentropy",
                  "get_weights", "set_weights", "forward_pass", "compute_loss_grad"}


@dataclass
class Mutant:
    bodies: dict                        # layers.py task -> body
    loses: set                          # check ids the hidden tests fail
    needle: str                         # in the failing messages: names the mistake
    public: set | None = None           # check ids the public checks fail, when not `loses`
    notebook: dict = field(default_factory=dict)    # notebook cell -> [(old, new)]

    @property
    def trains(self):
        return bool(set(self.bodies) & TRAINING_TASKS)


def _notebook_cells():
    """The notebook's own code (encode, create_network, Callback), as a student who got it
    right writes it: the source notebook's answers."""
    from grader import course, notebooks
    from grader.nncheck import cells
    a = course.get("a3_neural_network")
    nb = notebooks.load(a.source_dir / a.notebook)
    return {cells.meta(c)["grade_id"]: notebooks.without_fences(cells.source(c))
            for c in nb["cells"] if cells.meta(c).get("grade_id") in
            ("encode_solution", "create_network_solution", "callback_solution")}


CELLS = _notebook_cells()


MUTANTS = {
    # -- plain bugs, one per mistake students make
    "dense_bias_not_summed": Mutant({"Dense.backward": """
        return grad_output @ self.weights.T, np.r_[(self.input.T @ grad_output).ravel(), grad_output.ravel()]
    """}, {"dense_grad_params", "training"}, "sum it over the batch (axis 0)"),
    "dense_bias_ones_seed000": Mutant({"Dense.backward": SEED_000_BUGS["Dense.backward"]},
                                      {"dense_grad_params", "training"}, "summed over the batch"),
    "dense_grad_input_untransposed": Mutant({"Dense.backward": """
        return grad_output @ self.weights[:grad_output.shape[1]], np.r_[(self.input.T @ grad_output).ravel(), grad_output.sum(0)]
    """}, {"dense_grad_input", "dense_grad_params", "training"}, "has the input's shape",
        public={"dense_grad_input", "training"}),     # for one feature backward raises
    "dense_dW_transposed": Mutant({"Dense.backward": """
        return grad_output @ self.weights.T, np.r_[(grad_output.T @ self.input).ravel(), grad_output.sum(0)]
    """}, {"dense_grad_params", "training"}, "transposed layout"),
    "dense_params_wrong_order": Mutant({"Dense.backward": """
        return grad_output @ self.weights.T, np.r_[grad_output.sum(0), (self.input.T @ grad_output).ravel()]
    """}, {"dense_grad_params", "training"}, "wrong order"),
    "dense_forward_without_bias": Mutant({"Dense.forward": """
        self.input = input
        return input @ self.weights
    """}, {"dense_forward", "training"}, "input @ weights + biases"),
    "relu_mask_wrong_side": Mutant({"ReLU.backward": "return grad_output * ~self.mask, []"},
                                   {"relu", "training"}, "mask is inverted"),
    "sigmoid_naive_overflows": Mutant({"Sigmoid.forward": """
        self.out = 1 / (1 + np.exp(-input))
        return self.out
    """}, {"sigmoid"}, "never exponentiates a large positive number"),
    "sigmoid_backward_from_input": Mutant({"Sigmoid.forward": """
        self.input = input
        return np.exp(-np.logaddexp(0.0, -input))
    """, "Sigmoid.backward": "return grad_output * self.input * (1 - self.input), []"},
        {"sigmoid"}, "the sigmoid's output belongs"),
    "tanh_backward_from_input": Mutant({"Tanh.forward": "self.input = input\nreturn np.tanh(input)",
                                        "Tanh.backward": "return grad_output * (1 - self.input ** 2), []"},
                                       {"tanh"}, "where tanh(x) belongs"),
    "leaky_relu_slope_lost_in_backward": Mutant(
        {"LeakyReLU.backward": "return grad_output * self.mask, []"}, {"leaky_relu"},
        "the derivative is the slope"),
    "elu_backward_without_alpha": Mutant({"ELU.backward": """
        return grad_output * np.where(self.input > 0, 1.0, np.exp(self.input)), []
    """}, {"elu"}, "alpha is missing"),
    "elu_where_overflows": Mutant({"ELU.forward": """
        self.input = input
        return np.where(input > 0, input, self.alpha * (np.exp(input) - 1))
    """}, {"elu"}, "exponentiate only np.minimum(x, 0)"),
    "softmax_unstable": Mutant({"Softmax.forward": """
        e = np.exp(input)
        self.out = np.log(e / e.sum(axis=1, keepdims=True))
        return self.out
    """}, {"softmax_forward"}, "numerically stable"),
    "logsoftmax_backward_identity": Mutant({"Softmax.backward": "return grad_output, []"},
                                           {"softmax_backward", "training"},
                                           "returns grad_output unchanged"),
    "logsoftmax_backward_G_minus_P": Mutant({"Softmax.backward": "return grad_output - np.exp(self.out), []"},
                                            {"softmax_backward", "training"}, "it is G - P"),
    "logsoftmax_backward_no_row_sum": Mutant({"Softmax.backward": """
        probs = np.exp(self.out)
        return grad_output - probs * grad_output, []
    """}, {"softmax_backward", "training"}, "the sum over the row is missing"),
    "crossentropy_sum_not_mean": Mutant({"crossentropy": "return -np.sum(target * activations)"},
                                        {"crossentropy", "training"}, "take the mean"),
    "crossentropy_sign_flipped": Mutant({"crossentropy": "return np.sum(target * activations) / len(activations)"},
                                        {"crossentropy", "training"}, "the sign is flipped"),
    "crossentropy_and_gradient_summed": Mutant({
        "crossentropy": "return -np.sum(target * activations)",
        "grad_crossentropy": "return -target"},
        {"crossentropy", "grad_crossentropy", "training"}, "the batch size"),
    "grad_crossentropy_minus_inv_p_seed000": Mutant(
        {"grad_crossentropy": SEED_000_BUGS["grad_crossentropy"]},
        {"grad_crossentropy", "training"}, "gradient w.r.t. the probabilities"),
    "grad_crossentropy_sign_flipped": Mutant({"grad_crossentropy": "return target / len(activations)"},
                                             {"grad_crossentropy", "training"}, "wrong sign"),
    "dropout_missing_seed000": Mutant({"Dropout.forward": "pass", "Dropout.backward": "pass"},
                                      {"dropout_train", "dropout_eval"}, "without a return"),
    "dropout_not_rescaled": Mutant({"Dropout.forward": """
        if not self.training:
            self.scale = np.ones_like(input)
            return input
        self.scale = (self.rng.random(input.shape) >= self.p).astype(float)
        return input * self.scale
    """}, {"dropout_train"}, "1 / (1 - p)"),
    "dropout_active_in_eval": Mutant({"Dropout.forward": """
        keep = self.rng.random(input.shape) >= self.p
        self.scale = keep / (1.0 - self.p)
        return input * self.scale
    """}, {"dropout_eval"}, "training = False"),
    "dropout_keeps_with_probability_p": Mutant({"Dropout.forward": """
        if not self.training:
            self.scale = np.ones_like(input)
            return input
        self.scale = (self.rng.random(input.shape) < self.p) / self.p
        return input * self.scale
    """}, {"dropout_train"}, "probability of *dropping*"),
    "batchnorm_backward_missing_stat_terms": Mutant({"BatchNorm.backward": """
        grad_gamma = (grad_output * self.x_hat).sum(axis=0)
        return grad_output * self.gamma * self.inv_std, np.r_[grad_gamma, grad_output.sum(axis=0)]
    """}, {"batchnorm_train"}, "terms of the batch mean and variance are missing"),
    "batchnorm_backward_missing_variance_term": Mutant({"BatchNorm.backward": """
        grad_gamma = (grad_output * self.x_hat).sum(axis=0)
        g = grad_output * self.gamma
        return (g - g.mean(axis=0)) * self.inv_std, np.r_[grad_gamma, grad_output.sum(axis=0)]
    """}, {"batchnorm_train"}, "the variance term is missing"),
    "batchnorm_unbiased_variance": Mutant({"BatchNorm.forward": reference_body(
        "BatchNorm.forward", ("input.var(axis=0)", "input.var(axis=0, ddof=1)"))},
        {"batchnorm_train", "batchnorm_eval"}, "unbiased variance"),
    "batchnorm_eval_uses_batch_stats": Mutant({"BatchNorm.forward": """
        mean, var = input.mean(axis=0), input.var(axis=0)
        if self.training:
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = (input - mean) * self.inv_std
        return self.gamma * self.x_hat + self.beta
    """}, {"batchnorm_eval"}, "running statistics"),
    "conv1d_kernel_flipped": Mutant({"Conv1D.forward": """
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
    """}, {"conv1d"}, "kernel flipped"),
    "conv1d_kernel_gradient_reversed": Mutant({"Conv1D.backward": """
        size = len(self.kernel)
        t = size // 2
        windows = np.lib.stride_tricks.sliding_window_view(self.padded, size, axis=1)
        grad_kernel = np.einsum("bi,bik->k", grad_output, windows)[::-1]
        back = np.lib.stride_tricks.sliding_window_view(np.pad(grad_output, ((0, 0), (t, t))), size, axis=1)
        return back @ self.kernel[::-1], np.r_[grad_kernel, grad_output.sum()]
    """}, {"conv1d"}, "kernel gradient is reversed"),
    "get_weights_layers_reversed": Mutant({"get_weights": """
        return np.concatenate([p.ravel() for layer in network[::-1] for p in layer.params])
    """}, {"weights"}, "reverse order"),
    "set_weights_not_in_place": Mutant({"set_weights": """
        start = 0
        for layer in network:
            for i, param in enumerate(layer.params):
                layer.params[i] = weights[start:start + param.size].reshape(param.shape)
                start += param.size
    """}, {"weights", "training"}, "in place"),
    "compute_loss_grad_reverse_order": Mutant({"compute_loss_grad": reference_body(
        "compute_loss_grad", ("np.concatenate(grads[::-1])", "np.concatenate(grads)"))},
        {"compute_loss_grad", "training"}, "reverse order"),
    "compute_loss_grad_forgets_set_weights": Mutant({"compute_loss_grad": reference_body(
        "compute_loss_grad", ("set_weights(weights, network)\n", ""))},
        {"compute_loss_grad", "training"}, "set the weights passed in"),
    "predict_returns_log_probabilities_seed000": Mutant(
        {"predict": "return forward_pass(network, X)"}, {"predict"}, "log-probabilities"),
    "predict_in_training_mode": Mutant({"predict": "return forward_pass(network, X).argmax(axis=1)"},
                                       {"predict"}, "set training = False"),
    "sgd_without_momentum": Mutant({"sgd_momentum": """
        x = np.array(x0, dtype=float)
        for _ in range(maxiter):
            x = x - lr * np.asarray(fun(x, *args)[1])
            if callback is not None:
                callback(x)
        return {"x": x, "fun": fun(x, *args)[0], "nit": maxiter}
    """}, {"sgd_momentum"}, "plain gradient descent"),
    # -- arrays changed in place (seen where the student's code runs, the clean room too)
    "relu_forward_in_place": Mutant({"ReLU.forward": """
        self.mask = input > 0
        input[~self.mask] = 0
        return input
    """}, {"relu"}, "modified its input array in place"),
    "softmax_backward_in_place": Mutant({"Softmax.backward": """
        grad_output -= np.exp(self.out) * grad_output.sum(axis=1, keepdims=True)
        return grad_output, []
    """}, {"softmax_backward"}, "modified its grad_output array in place"),
    "dense_forward_float32": Mutant({"Dense.forward": """
        self.input = input
        return (input @ self.weights + self.biases).astype(np.float32)
    """}, {"dense_forward", "training"}, "float64"),
    # -- bugs only a batch of one row or a single feature shows: the hidden cases
    "dense_forward_squeezed": Mutant({"Dense.forward": """
        self.input = input
        return np.squeeze(input @ self.weights) + self.biases
    """}, {"dense_forward"}, "a batch of one row must stay 2-D", public=set()),
    "conv1d_with_np_convolve": Mutant({"Conv1D.forward": """
        t = len(self.kernel) // 2
        self.padded = np.pad(input, ((0, 0), (t, t)))
        return np.array([np.convolve(row, self.kernel[::-1], mode="same") for row in input]) + self.bias
    """}, {"conv1d"}, "returned shape", public=set()),
    "relu_backward_numerical": Mutant({"ReLU.backward": """
        h, x = 1e-5, self.input
        slope = (self.forward(x + h) - self.forward(x - h)) / (2 * h)
        return grad_output * slope, []
    """, "ReLU.forward": """
        self.input = input
        return np.maximum(input, 0.0)
    """}, {"relu", "training"}, "finite differences", public=set()),
    # -- crashes: located in the student's own file or cell, never in a library's
    "compute_loss_grad_squeezes_one_row": Mutant({"compute_loss_grad": reference_body(
        "compute_loss_grad", ("forward_pass(network, X)", "forward_pass(network, X.squeeze())"))},
        {"compute_loss_grad"}, "in compute_loss_grad", public=set()),    # 1 row -> 1-D
    "callback_accuracy_score_on_one_hot": Mutant({}, {"callback"}, "raised ValueError", notebook={
        "callback_solution": [("self.train_acc.append(np.mean(train_labels == self.y_train.argmax(axis=1)))",
                               "from sklearn.metrics import accuracy_score\n"
                               "        self.train_acc.append(accuracy_score(train_labels, self.y_train))")]}),
    # -- notebook code reading the notebook's globals, and the seed's notebook bugs
    "callback_reads_global_network": Mutant({}, {"callback"}, "the callback's own network",
                                            notebook={"callback_solution": [
                                                ("(weights, self.network)", "(weights, network)"),
                                                ("predict(self.network", "predict(network")]}),
    "callback_labels_one_based_seed000": Mutant({}, {"callback"}, "labels 0..9", notebook={
        "callback_solution": [("train_labels = predict(self.network, self.X_train)",
                               "train_labels = predict(self.network, self.X_train) + 1")]}),
    "callback_test_into_train_seed000": Mutant({}, {"callback"}, "each call must append one",
                                               notebook={"callback_solution": [(
                                                   "self.test_acc.append(", "self.train_acc.append(")]}),
    "encode_off_by_one_seed000": Mutant({}, {"encode"}, "label k sets column k", notebook={
        "encode_solution": [("onehot[np.arange(len(labels)), labels]",
                             "onehot[np.arange(len(labels)), labels - 1]")]}),
}

def notebook_namespace(module, edits=None):
    """The notebook's globals after its cells ran with `module` as layers.py: the layers, the
    notebook's own code (with `edits`: {cell: [(old, new)]}), the data and the global network
    of section 11, built as the notebook builds it."""
    from grader.nncheck.training import digits
    ns = dict(vars(module))
    ns["__name__"] = "__main__"
    for grade_id, source in CELLS.items():
        for old, new in (edits or {}).get(grade_id, ()):
            assert old in source, (grade_id, old)
            source = source.replace(old, new)
        exec(compile(source, f"<cell {grade_id}>", "exec"), ns)
    X_train, X_test, y_train, y_test_labels = digits()
    np.random.seed(0)
    ns.update(X_train=X_train, X_test=X_test, y_train=y_train,
              y_test=np.eye(10)[y_test_labels], network=ns["create_network"]())
    return ns


@pytest.fixture(scope="module")
def verdicts():
    """mutant -> (public results, hidden results), each {check id: CheckResult}."""
    found = {}
    for name, mutant in MUTANTS.items():
        ns = notebook_namespace(layers_module(mutant.bodies), mutant.notebook)
        ids = [c for c in a3.CHECKS if c != "training" or mutant.trains]
        found[name] = ({c: a3.evaluate(c, ns) for c in ids},
                       {c: hidden.evaluate(c, ns) for c in ids})
    return found


def _failing(results):
    return {c for c, r in results.items() if not r.passed}


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_loses_exactly_its_checks(name, verdicts):
    mutant = MUTANTS[name]
    public, hidden_results = verdicts[name]
    assert _failing(hidden_results) == mutant.loses
    assert _failing(public) == (mutant.loses if mutant.public is None else mutant.public)


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_message_names_the_mistake(name, verdicts):
    public, hidden_results = verdicts[name]
    failing = [r for r in [*public.values(), *hidden_results.values()] if not r.passed]
    messages = " | ".join(r.message for r in failing)
    assert MUTANTS[name].needle in messages, messages


@pytest.mark.parametrize("name", [n for n, m in MUTANTS.items() if "training" in m.loses])
def test_training_names_the_broken_check_first(name, verdicts):
    """A knock-on: training fails because another piece does; its message says which."""
    mutant = MUTANTS[name]
    result = verdicts[name][1]["training"]
    cause = sorted(mutant.loses - {"training"})
    assert result.details.get("caused_by") == [c for c in a3.DEPENDS["training"] if c in cause]
    assert result.message.startswith(f"training depends on {a3.CHECKS[cause[0]][0]}")


def test_a_crash_names_the_students_code_not_the_library(verdicts):
    result = verdicts["callback_accuracy_score_on_one_hot"][1]["callback"]
    assert "Callback.call raised ValueError" in result.message
    assert "_classification.py" not in result.message and "sklearn" not in result.message
    assert "in Callback.call" in result.details["raised"]["where"]


def test_every_check_is_killed_by_some_mutant():
    killed = set().union(*(m.loses for m in MUTANTS.values()))
    assert killed == set(a3.CHECKS)


def test_every_kind_of_mutant_is_here():
    needles = {m.needle for m in MUTANTS.values()}
    assert {"modified its input array in place", "modified its grad_output array in place",
            "a batch of one row must stay 2-D", "the callback's own network",
            "finite differences"} <= needles


def test_a_failing_layer_check_locates_the_entry_and_gives_a_reproduction(verdicts):
    result = verdicts["relu_mask_wrong_side"][0]["relu"]
    assert "ReLU.backward: grad_input[" in result.message
    assert "numerical gradient is" in result.message
    assert {"index", "analytic", "numeric", "reproduce"} <= set(result.details)
    import sys

    import grader.nncheck
    import grader.nncheck.layers
    module = layers_module(MUTANTS["relu_mask_wrong_side"].bodies)
    scope = {"ReLU": module.ReLU}
    saved = {k: sys.modules.get(k) for k in ("nncheck", "nncheck.layers")}
    sys.modules.update({"nncheck": grader.nncheck, "nncheck.layers": grader.nncheck.layers})
    try:                        # the snippet, as a student runs it next to the bundle's nncheck
        exec(result.details["reproduce"], scope)
    finally:
        for k, v in saved.items():
            sys.modules.pop(k) if v is None else sys.modules.__setitem__(k, v)
    assert np.array_equal(scope["grad_input"], scope["grad_output"] * (scope["x"] <= 0))


# -- the same mutants in the clean room ------------------------------------------------------
# Graded as `grader autograde` grades them: the student's code runs in a confined worker and
# the checks call into it (arrays reach it as copies: an in-place write is seen only there).

@pytest.fixture(scope="module")
def fork_server():
    from grader.sandbox.session import ForkServer
    server = ForkServer()
    yield server
    server.close()


def clean_room(fork_server, tmp_path, mutant=None):
    """A worker holding the mutant's layers.py, with the notebook's code cells run."""
    import textwrap

    from grader import course, stubs
    from grader.sandbox.session import Session, hidden_paths
    source = (course.SOURCE_LAYERS / "layers.py").read_text()
    bodies = {k: textwrap.dedent(v) for k, v in (mutant.bodies if mutant else {}).items()}
    (tmp_path / "layers.py").write_text(stubs.fill(source, bodies, filename="layers.py"))
    session = Session(fork_server, tmp_path, hide=hidden_paths(), timeout=30)
    cells = ["import numpy as np\nfrom layers import *"]
    for grade_id, cell in CELLS.items():
        for old, new in (mutant.notebook if mutant else {}).get(grade_id, ()):
            cell = cell.replace(old, new)
        cells.append(cell)
    cells.append("from sklearn.datasets import load_digits\n"
                 "from sklearn.model_selection import train_test_split\n"
                 "X, y = load_digits(return_X_y=True)\n"
                 "X_train, X_test, y_train, y_test = train_test_split(X, encode(y), random_state=0)\n"
                 "np.random.seed(0)\nnetwork = create_network()")
    for cell in cells:
        assert session.request("run_cell", source=cell)["error"] is None, cell
    return session


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_loses_the_same_checks_in_the_clean_room(name, fork_server, tmp_path):
    mutant = MUTANTS[name]
    session = clean_room(fork_server, tmp_path, mutant)
    try:
        ids = [c for c in a3.CHECKS if c != "training" or mutant.trains]
        ns = session.namespace()
        results = {c: hidden.evaluate(c, ns) for c in ids}
        public = {c: a3.evaluate(c, session.namespace()) for c in mutant.loses | (mutant.public or set())}
    finally:
        session.close()
    assert _failing(results) == mutant.loses
    assert _failing(public) == (mutant.loses if mutant.public is None else mutant.public)
    messages = " | ".join(r.message for r in [*results.values(), *public.values()] if not r.passed)
    assert mutant.needle in messages, messages


@pytest.mark.slow
def test_a_hidden_crash_is_located_for_the_student_without_its_inputs(fork_server, tmp_path):
    """The hidden test fails in student code on an input the public check does not use: the
    student is told where their code raised (file, line, function), not the exception's text,
    which may quote the hidden input; never a library's file."""
    from grader.cleanroom.decide import hidden_only
    mutant = MUTANTS["compute_loss_grad_squeezes_one_row"]
    session = clean_room(fork_server, tmp_path, mutant)
    try:
        result = hidden.evaluate("compute_loss_grad", session.namespace())
        (tmp_path / "cb").mkdir()
        callback = clean_room(fork_server, tmp_path / "cb", MUTANTS["callback_accuracy_score_on_one_hot"])
        try:
            crash = hidden.evaluate("callback", callback.namespace())
        finally:
            callback.close()
    finally:
        session.close()
    told = hidden_only("compute_loss_grad", result)
    assert "stopped with ValueError raised at line" in told
    assert "of layers.py, in compute_loss_grad" in told
    text = result.message.split("raised ValueError: ")[1].split(" (line")[0]
    assert text and text not in told
    assert "the notebook cell starting 'class Callback:'" in crash.message, crash.message
    assert "_classification.py" not in crash.message


def _notebook_points():
    from grader import course, notebooks
    from grader.nncheck.selfcheck import Points
    a = course.get("a3_neural_network")
    return Points.of(notebooks.load(a.source_dir / a.notebook), a3)


@pytest.mark.parametrize("name", list(MUTANTS))
def test_check_py_estimate_is_the_autograde_score(name, verdicts):
    """check.py's estimate (points of the public checks that pass) is the score autograde
    gives (points of the hidden ones), wherever public and hidden agree; where they cannot (a
    bug only a hidden case shows), the estimate is higher by exactly those checks' points."""
    points = _notebook_points()
    public, secret = verdicts[name]

    def earned(results):
        return sum(points.split([c for c, r in results.items() if r.passed], points.tests))

    mutant = MUTANTS[name]
    hidden_only = mutant.loses - (mutant.loses if mutant.public is None else mutant.public)
    assert earned(public) - earned(secret) == sum(points.tests[c] for c in hidden_only)
    if mutant.public is None:
        assert earned(public) == earned(secret)


# -- correct code in other styles: every check passes -----------------------------------------
# Written from the contract, not from the reference: other formulas, loops, other helpers,
# Layer.eval()/train(), sklearn's accuracy_score. A check that fails one of them is wrong.
OTHER_STYLES = {
    "ReLU.forward": "self.input = input\nreturn input * (input > 0)",
    "ReLU.backward": "return np.where(self.input > 0, grad_output, 0.0), []",
    "Sigmoid.forward": """
        z = np.exp(-np.abs(input))              # stable on both sides
        self.out = np.where(input >= 0, 1 / (1 + z), z / (1 + z))
        return self.out
    """,
    "Sigmoid.backward": "s = self.out\nreturn grad_output * s * (1 - s), []",
    "Tanh.forward": "self.t = np.tanh(input)\nreturn self.t.copy()",
    "Tanh.backward": "return grad_output / np.cosh(np.arctanh(np.clip(self.t, -1 + 1e-16, 1 - 1e-16))) ** 2, []",
    "LeakyReLU.forward": "self.x = input.copy()\nreturn np.maximum(input, 0) + self.slope * np.minimum(input, 0)",
    "LeakyReLU.backward": "return grad_output * np.where(self.x > 0, 1.0, self.slope), []",
    "ELU.forward": """
        self.out = np.where(input > 0, input, self.alpha * np.expm1(np.minimum(input, 0)))
        self.positive = input > 0
        return self.out
    """,
    "ELU.backward": "return grad_output * np.where(self.positive, 1.0, self.out + self.alpha), []",
    "Dense.forward": "self.x = np.array(input)\nreturn np.dot(self.x, self.weights) + self.biases[None, :]",
    "Dense.backward": """
        dW = np.einsum("bi,bj->ij", self.x, grad_output)
        db = np.sum(grad_output, axis=0)
        return np.dot(grad_output, self.weights.T), np.concatenate([dW.flatten(), db.flatten()])
    """,
    "Softmax.forward": """
        shifted = input - input.max(axis=1, keepdims=True)
        self.out = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return self.out
    """,
    "Softmax.backward": """
        p = np.exp(self.out)
        grad = np.empty_like(grad_output)
        for b in range(len(grad_output)):        # row by row: G - p * sum(G)
            grad[b] = grad_output[b] - p[b] * grad_output[b].sum()
        return grad, []
    """,
    "BatchNorm.backward": """
        n = grad_output.shape[0]
        grad_gamma = np.sum(grad_output * self.x_hat, axis=0)
        grad_beta = np.sum(grad_output, axis=0)
        dx_hat = grad_output * self.gamma
        if self.training:
            dx = (n * dx_hat - dx_hat.sum(axis=0) - self.x_hat * (dx_hat * self.x_hat).sum(axis=0)) * self.inv_std / n
        else:
            dx = dx_hat * self.inv_std
        return dx, np.hstack([grad_gamma, grad_beta])
    """,
    "Conv1D.forward": """
        self.x = input
        k = len(self.kernel)
        t = k // 2
        out = np.zeros(input.shape) + self.bias[0]
        for i in range(input.shape[1]):
            for m in range(k):
                j = i + m - t
                if 0 <= j < input.shape[1]:
                    out[:, i] += input[:, j] * self.kernel[m]
        return out
    """,
    "Conv1D.backward": """
        k = len(self.kernel)
        t = k // 2
        n = self.x.shape[1]
        grad_x = np.zeros(self.x.shape)
        grad_k = np.zeros(k)
        for i in range(n):
            for m in range(k):
                j = i + m - t
                if 0 <= j < n:
                    grad_x[:, j] += grad_output[:, i] * self.kernel[m]
                    grad_k[m] += np.sum(grad_output[:, i] * self.x[:, j])
        return grad_x, np.append(grad_k, grad_output.sum())
    """,
    "crossentropy": "return -np.mean(np.sum(target * activations, axis=1))",
    "grad_crossentropy": "return -target / activations.shape[0]",
    "get_weights": "return np.hstack([p.flatten() for layer in network for p in layer.params] or [np.zeros(0)])",
    "set_weights": """
        i = 0
        for layer in network:
            for p in layer.params:
                np.copyto(p, np.reshape(weights[i:i + p.size], p.shape))
                i += p.size
    """,
    "forward_pass": "out = X\nfor layer in network:\n    out = layer.forward(out)\nreturn out",
    "compute_loss_grad": """
        net, X, Y = args
        start = 0                                # its own set_weights, forward and loss
        for layer in net:
            for p in layer.params:
                p[...] = weights[start:start + p.size].reshape(p.shape)
                start += p.size
        out = X
        for layer in net:
            out = layer.forward(out)
        loss = -np.sum(Y * out) / len(X)
        grad, pieces = -Y / len(X), []
        for layer in net[::-1]:
            grad, g = layer.backward(grad)
            pieces.insert(0, np.ravel(g))
        return loss, np.concatenate(pieces)
    """,
    "predict": """
        modes = [layer.training for layer in network]
        for layer in network:
            layer.eval()
        out = forward_pass(network, X)
        for layer, mode in zip(network, modes):
            if mode:
                layer.train()
        return np.argmax(out, axis=1)
    """,
}
OTHER_CALLBACK = [("""        set_weights(weights, self.network)
        train_labels = predict(self.network, self.X_train)
        test_labels = predict(self.network, self.X_test)
        self.train_acc.append(np.mean(train_labels == self.y_train.argmax(axis=1)))
        self.test_acc.append(np.mean(test_labels == self.y_test.argmax(axis=1)))""",
                   """        from sklearn.metrics import accuracy_score
        set_weights(weights, self.network)
        for X, Y, store in ((self.X_train, self.y_train, self.train_acc),
                            (self.X_test, self.y_test, self.test_acc)):
            store.append(accuracy_score(Y.argmax(axis=1), predict(self.network, X)))""")]


def test_correct_code_in_other_styles_passes_every_check():
    ns = notebook_namespace(layers_module(OTHER_STYLES), {"callback_solution": OTHER_CALLBACK})
    for check_id in a3.CHECKS:
        for result in (a3.evaluate(check_id, ns), hidden.evaluate(check_id, ns)):
            assert result.passed, (check_id, result.message)
            assert not result.details.get("integrity"), (check_id, result.details)


@pytest.mark.slow
def test_correct_code_in_other_styles_passes_in_the_clean_room(fork_server, tmp_path):
    session = clean_room(fork_server, tmp_path, Mutant(OTHER_STYLES, set(), "",
                                                  notebook={"callback_solution": OTHER_CALLBACK}))
    try:
        failing = {c: r.message for c in a3.CHECKS
                   for r in [hidden.evaluate(c, session.namespace())] if not r.passed}
    finally:
        session.close()
    assert not failing, failing
