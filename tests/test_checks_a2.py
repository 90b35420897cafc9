"""Assignment 2's checks: correct implementations pass every check (public and hidden cases),
missing ones fail cleanly, and each realistic wrong answer fails exactly the checks that name
it -- some only with the hidden cases, which is what the hidden cases are for."""
import numpy as np
import pytest

from grader.hidden import a2 as hidden
from grader.nncheck import a2, graphs


# ------------------------------------------------------------------- correct answers
class AddGate:
    def forward(self, x, y):
        return x + y

    def backward(self, dz):
        return dz, dz


class MultiplyGate:
    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dz):
        return self.y * dz, self.x * dz


class MaxGate:
    def forward(self, x, y):
        self.x_wins = x >= y
        return max(x, y)

    def backward(self, dz):
        return (dz, 0.0) if self.x_wins else (0.0, dz)


class CopyGate:
    def forward(self, x):
        return x, x

    def backward(self, dz1, dz2):
        return dz1 + dz2


def simple_graph(x, y, z):
    q = x + y
    return q * z, (z, z, q)


def sigmoid(t):
    return 1 / (1 + np.exp(-t))


def neuron_flat(w, x):
    s3 = w[0] * x[0] + w[1] * x[1] + w[2]
    L = sigmoid(s3)
    grad_s3 = (1 - L) * L
    return L, grad_s3, grad_s3 * np.array([x[0], x[1], 1.0]), grad_s3 * np.array([w[0], w[1]])


def normWx_backprop(W, x):
    q = W @ x
    grad_q = 2 * q
    return q @ q, np.outer(grad_q, x), W.T @ grad_q


def matmul_backward(x, w, grad_y):
    return grad_y @ w.T, x.T @ grad_y


def svm_loss_naive(W, X, y, reg):
    dW = np.zeros_like(W)
    loss = 0.0
    for i in range(X.shape[0]):
        scores = X[i] @ W
        for j in range(W.shape[1]):
            if j == y[i]:
                continue
            margin = scores[j] - scores[y[i]] + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    return loss / len(X) + reg * np.sum(W * W), dW / len(X) + 2 * reg * W


def svm_loss_vectorized(W, X, y, reg):
    n = len(X)
    scores = X @ W
    margins = np.maximum(0, scores - scores[np.arange(n), y][:, None] + 1)
    margins[np.arange(n), y] = 0
    active = (margins > 0).astype(float)
    active[np.arange(n), y] = -active.sum(axis=1)
    return margins.sum() / n + reg * np.sum(W * W), X.T @ active / n + 2 * reg * W


def train_two_layer(x, y, hidden, n_iter, lr, seed=0):
    rng = np.random.default_rng(seed)
    w1, w2 = rng.standard_normal((x.shape[1], hidden)), rng.standard_normal((hidden, y.shape[1]))
    losses = []
    for _ in range(n_iter):
        h = 1 / (1 + np.exp(-x @ w1))
        y_pred = h @ w2
        losses.append(np.square(y_pred - y).sum())
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h.T @ grad_y_pred
        grad_h = grad_y_pred @ w2.T
        grad_w1 = x.T @ (grad_h * h * (1 - h))
        w1 = w1 - lr * grad_w1
        w2 = w2 - lr * grad_w2
    return w1, w2, losses


def net2221_forward(X, W1, W2, W3):
    return sigmoid(sigmoid(X @ W1) @ W2) @ W3


def net2221_backward(X, W1, W2, W3, grad_yhat):
    O1 = sigmoid(X @ W1)
    O2 = sigmoid(O1 @ W2)
    d = grad_yhat
    dW3 = O2.T @ d
    d = d @ W3.T * O2 * (1 - O2)
    dW2 = O1.T @ d
    d = d @ W2.T * O1 * (1 - O1)
    return X.T @ d, dW2, dW3


CORRECT = {name: value for name, value in globals().copy().items()
           if name in {task for task, _ in a2.CHECKS.values()} | {"net2221_forward"}}
SLOW = {"two_layer_training"}     # about a second: run only where a mutant can reach it


def namespace(**overrides):
    return {**CORRECT, **overrides}


def hidden_cases(check_id):
    return tuple(a2.CASES[check_id]) + hidden.EXTRA[check_id]


def failing(ns, ids, hidden_tests):
    return {check_id for check_id in ids
            if not a2.evaluate(check_id, ns, cases=hidden_cases(check_id) if hidden_tests
                               else None).passed}


# ----------------------------------------------------------------------- the basics
def test_every_task_has_a_correct_answer():
    assert {task for task, _ in a2.CHECKS.values()} <= set(CORRECT)


@pytest.mark.parametrize("hidden_tests", [False, True], ids=["public", "hidden"])
@pytest.mark.parametrize("check_id", list(a2.CHECKS))
def test_correct_answers_pass(check_id, hidden_tests):
    cases = hidden_cases(check_id) if hidden_tests else None
    result = a2.evaluate(check_id, namespace(), cases=cases)
    assert result.passed, str(result)


def test_hidden_run_prints_pass(capsys):
    hidden.run("multiply_gate", namespace())
    assert "[PASS] multiply_gate" in capsys.readouterr().out


def test_registry_matches_hidden_cases():
    assert set(a2.CHECKS) == set(a2.CASES) == set(hidden.EXTRA)
    for check_id, cases in hidden.EXTRA.items():
        assert len(cases) >= 2, check_id
        assert not {s for s, _ in cases} & {s for s, _ in a2.CASES[check_id]}, check_id


def test_lecture_numbers_are_the_public_cases():
    assert a2.CASES["simple_graph"] == ((None, {"x": -2.0, "y": 5.0, "z": -4.0}),)
    assert a2.CASES["neuron_gradients"] == ((None, {"w": (2.0, -3.0, -3.0), "x": (-1.0, -2.0)}),)


def test_lecture_values_come_out_of_the_checks():
    """The lecture's numbers are what the oracle computes (nothing stored as a literal)."""
    v = graphs.LECTURE_XYZ
    grads = [graphs.derivative(lambda t: (v["x"] + v["y"]) * t, v["z"]),
             graphs.derivative(lambda t: (t + v["y"]) * v["z"], v["x"])]
    assert np.allclose(grads, [3, -4])
    assert np.isclose(graphs.derivative(graphs.sigmoid, 1.0), 0.2, atol=0.01)


def test_svm_cases_stay_off_the_hinge():
    """Finite differences are only valid away from margins of exactly 0."""
    for check_id in ("svm_naive_grad", "svm_vectorized_grad"):
        for seed, dims in hidden_cases(check_id):
            W, X, y = graphs.svm_data(seed, **dims)
            scores = X @ W
            margins = scores - scores[np.arange(len(X)), y][:, None] + 1
            margins[np.arange(len(X)), y] = 10
            assert np.min(np.abs(margins)) > 1e-3, (seed, dims)


@pytest.mark.parametrize("check_id", [c for c in a2.CHECKS if c not in SLOW])
def test_missing_code_fails_with_its_name(check_id):
    result = a2.evaluate(check_id, {})
    assert not result.passed and "is not defined" in result.message


class _StubGate:
    def forward(self, *args):
        raise NotImplementedError()

    def backward(self, *args):
        raise NotImplementedError()


def _stub(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("check_id", list(a2.CHECKS))
def test_stubs_fail_cleanly(check_id):
    ns = {name: (_StubGate if name.endswith("Gate") else _stub) for name in CORRECT}
    result = a2.evaluate(check_id, ns)
    assert not result.passed and "NotImplementedError" in result.message


# ---------------------------------------------------------- realistic wrong answers
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


# name -> (overridden names, the check ids that fail with the hidden cases[, with the public
# cases when that differs])
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


@pytest.mark.parametrize("hidden_tests", [False, True], ids=["public", "hidden"])
@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_mutant_fails_exactly_its_checks(mutant, hidden_tests):
    overrides, expected, *public = MUTANTS[mutant]
    if not hidden_tests and public:
        expected = public[0]
    reach = "train_two_layer" in overrides
    ids = [c for c in a2.CHECKS if c not in SLOW or reach]
    assert failing(namespace(**overrides), ids, hidden_tests) == expected


def test_gate_failure_names_the_pattern():
    result = a2.evaluate("multiply_gate", namespace(MultiplyGate=MultiplyNoSwap))
    assert "swap multiplier" in result.message


def test_class_state_is_explained():
    result = a2.evaluate("max_gate", namespace(MaxGate=MaxStateOnClass),
                         cases=hidden_cases("max_gate"))
    assert "not on the class" in result.message


def test_net_backward_says_which_gradients_are_right():
    result = a2.evaluate("net2221_backward",
                         namespace(net2221_backward=_net_backward("grad_from_preactivation")))
    assert "dW3 and dW2 right, but" in result.message and "dW1" in result.message


# ------------------------------------------------------------- the notebook and its sample
def test_notebook_has_one_test_cell_per_check_and_the_sample_names_real_cells():
    from grader import course, notebooks
    from grader.samples import a2 as sample

    nb = notebooks.load(course.get("a2_backprop").source_dir / "a2_backprop.ipynb")
    tests = [notebooks.meta(c)["grade_id"] for c in nb["cells"] if notebooks.is_test(c)]
    assert sorted(tests) == sorted(a2.CHECKS)
    assert all(1 <= p <= 3 for p in notebooks.test_points(nb).values())
    solutions = {notebooks.meta(c)["grade_id"] for c in nb["cells"]
                 if notebooks.meta(c).get("solution") and c["cell_type"] == "code"}
    assert set(sample.BUGGY_CELLS) <= solutions
    assert sample.BUGGY_LOSES <= set(tests) and sample.BUGGY_MODULES == {}


def test_every_check_rejects_some_realistic_wrong_answer():
    caught = set().union(*(expected for _, expected, *_ in MUTANTS.values()))
    assert caught == set(a2.CHECKS)
