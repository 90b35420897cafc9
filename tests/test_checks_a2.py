"""Assignment 2's checks: correct implementations pass every check (public and hidden cases),
missing ones fail cleanly, and each realistic wrong answer fails exactly the checks that name
it -- some only with the hidden cases, which is what the hidden cases are for."""
import numpy as np
import pytest

from grader.hidden import a2 as hidden
from grader.nncheck import a2, gates, graphs, svm


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
    v = gates.LECTURE_XYZ
    grads = [graphs.derivative(lambda t: (v["x"] + v["y"]) * t, v["z"]),
             graphs.derivative(lambda t: (t + v["y"]) * v["z"], v["x"])]
    assert np.allclose(grads, [3, -4])
    assert np.isclose(graphs.derivative(graphs.sigmoid, 1.0), 0.2, atol=0.01)


def test_svm_cases_stay_off_the_hinge():
    """Finite differences are only valid away from margins of exactly 0."""
    for check_id in ("svm_naive_grad", "svm_vectorized_grad"):
        for seed, dims in hidden_cases(check_id):
            W, X, y = svm.svm_data(seed, **dims)
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


# ------------------------------------------------------------- the notebook and its sample
def test_notebook_has_one_test_cell_per_check_and_the_sample_names_real_cells():
    from grader import course, notebooks
    from grader.nncheck import cells
    from grader.samples import a2 as sample

    nb = notebooks.load(course.get("a2_backprop").source_dir / "a2_backprop.ipynb")
    tests = [cells.meta(c)["grade_id"] for c in nb["cells"] if cells.is_test(c)]
    assert sorted(tests) == sorted(a2.CHECKS)
    assert all(1 <= p <= 3 for p in cells.test_points(nb).values())
    solutions = {cells.meta(c)["grade_id"] for c in nb["cells"]
                 if cells.meta(c).get("solution") and c["cell_type"] == "code"}
    assert set(sample.BUGGY_CELLS) <= solutions
    assert sample.BUGGY_LOSES <= set(tests) and sample.BUGGY_MODULES == {}


