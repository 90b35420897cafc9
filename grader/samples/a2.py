"""Assignment 2's buggy sample: three realistic backprop mistakes."""

BUGGY_CELLS = {
    # no swap: each input's gradient scaled by itself; simple_graph, built on it, inherits the bug
    "multiply_gate_solution": '''
class MultiplyGate:
    """z = x * y"""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dz):
        """Returns (dL/dx, dL/dy) for the upstream gradient dz = dL/dz."""
        return self.x * dz, self.y * dz
'''.strip(),
    # the loss has the L2 term, its gradient forgets it
    "svm_loss_vectorized_solution": '''
def svm_loss_vectorized(W, X, y, reg):
    """Multiclass SVM loss with L2 regularization, without loops. Returns (loss, dW)."""
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X @ W
    margins = np.maximum(0, scores - scores[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / num_train + reg * np.sum(W * W)
    dscores = (margins > 0).astype(float)
    dscores[rows, y] = -dscores.sum(axis=1)
    dW = X.T @ dscores / num_train
    return loss, dW
'''.strip(),
    # the sigmoid's derivative evaluated at its input H instead of written with its output O
    "net2221_backward_solution": '''
def net2221_backward(X, W1, W2, W3, grad_yhat):
    """Gradients (dL/dW1, dL/dW2, dL/dW3) for the upstream gradient grad_yhat = dL/dy_hat (n, 1)."""
    H1 = X @ W1
    O1 = sigmoid(H1)
    H2 = O1 @ W2
    O2 = sigmoid(H2)
    d = grad_yhat
    dW3 = O2.T @ d
    d = (d @ W3.T) * H2 * (1 - H2)
    dW2 = O1.T @ d
    d = (d @ W2.T) * H1 * (1 - H1)
    dW1 = X.T @ d
    return dW1, dW2, dW3
'''.strip(),
}
BUGGY_MODULES = {}
BUGGY_LOSES = {"multiply_gate", "simple_graph", "svm_vectorized_grad", "net2221_backward"}
