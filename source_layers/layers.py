"""A fully-connected network from scratch: layers, loss, network helpers, SGD.

The layer contract (assignment 3):

* ``layer.params`` -- list of numpy arrays; ``set_weights`` updates them *in place*.
* ``layer.forward(input)`` -- ``[batch, in] -> [batch, out]``; stores what ``backward`` needs.
* ``layer.backward(grad_output)`` -> ``(grad_input, grad_params)`` where ``grad_params`` is one
  flat 1-D array: every parameter's gradient raveled, in ``params`` order (``[]`` without params).
* ``layer.training`` -- ``True`` while training; ``predict`` switches it off (Dropout, BatchNorm).
* Arrays are float64 (numpy's default); ``forward`` and ``backward`` return new arrays and never
  modify the ones they are given; any batch size works, one row included (``[1, n] -> [1, m]``).
* No overflow for inputs of any magnitude: numpy must not warn (never exponentiate a large
  positive number, not even in the branch ``np.where`` discards).

A network is a list of layers. ``Softmax`` returns *log*-probabilities and ``crossentropy``
takes them, together with one-hot targets, and returns the mean negative log-likelihood.
"""
import numpy as np
from scipy.special import logsumexp


class Layer:
    """Base class: no parameters, and the train/eval switch that Dropout and BatchNorm read."""

    def __init__(self):
        self.params = []
        self.training = True

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self


class Identity(Layer):
    """Returns its input unchanged; the worked example of the contract."""

    def forward(self, input):
        return input

    def backward(self, grad_output):
        return grad_output, []


class ReLU(Layer):
    """ReLU(x) = max(x, 0), with derivative 0 at x = 0."""

    def forward(self, input):
        """Apply max(x, 0) elementwise to a [batch, units] array."""
        ### BEGIN SOLUTION
        self.mask = input > 0
        return np.where(self.mask, input, 0.0)
        ### END SOLUTION

    def backward(self, grad_output):
        """Return (dL/dinput, []): the gradient passes only where the input was positive."""
        ### BEGIN SOLUTION
        return grad_output * self.mask, []
        ### END SOLUTION


class Sigmoid(Layer):
    """sigma(x) = 1 / (1 + exp(-x)), computed without overflow for large |x|."""

    def forward(self, input):
        """Apply the logistic sigmoid elementwise."""
        ### BEGIN SOLUTION
        self.out = np.exp(-np.logaddexp(0.0, -input))
        return self.out
        ### END SOLUTION

    def backward(self, grad_output):
        """Return (dL/dinput, []) using sigma'(x) = sigma(x) (1 - sigma(x))."""
        ### BEGIN SOLUTION
        return grad_output * self.out * (1.0 - self.out), []
        ### END SOLUTION


class Tanh(Layer):
    """tanh(x), elementwise."""

    def forward(self, input):
        """Apply tanh elementwise."""
        ### BEGIN SOLUTION
        self.out = np.tanh(input)
        return self.out
        ### END SOLUTION

    def backward(self, grad_output):
        """Return (dL/dinput, []) using tanh'(x) = 1 - tanh(x)^2."""
        ### BEGIN SOLUTION
        return grad_output * (1.0 - self.out ** 2), []
        ### END SOLUTION


class LeakyReLU(Layer):
    """LeakyReLU(x) = x for x > 0, slope * x otherwise."""

    def __init__(self, slope=0.01):
        super().__init__()
        self.slope = slope

    def forward(self, input):
        """Apply the leaky ReLU elementwise."""
        ### BEGIN SOLUTION
        self.mask = input > 0
        return np.where(self.mask, input, self.slope * input)
        ### END SOLUTION

    def backward(self, grad_output):
        """Return (dL/dinput, []): slope 1 where the input was positive, `slope` elsewhere."""
        ### BEGIN SOLUTION
        return grad_output * np.where(self.mask, 1.0, self.slope), []
        ### END SOLUTION


class ELU(Layer):
    """ELU(x) = x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, input):
        """Apply the ELU elementwise."""
        ### BEGIN SOLUTION
        self.input = input
        return np.where(input > 0, input, self.alpha * np.expm1(np.minimum(input, 0.0)))
        ### END SOLUTION

    def backward(self, grad_output):
        """Return (dL/dinput, []): 1 for x > 0, alpha * exp(x) otherwise."""
        ### BEGIN SOLUTION
        x = self.input
        return grad_output * np.where(x > 0, 1.0, self.alpha * np.exp(np.minimum(x, 0.0))), []
        ### END SOLUTION


class Dense(Layer):
    """Affine map f(x) = x W + b for a batch of row vectors x."""

    def __init__(self, input_units, output_units):
        super().__init__()
        self.weights = np.random.randn(input_units, output_units) * 0.01
        self.biases = np.zeros(output_units)
        self.params = [self.weights, self.biases]

    def forward(self, input):
        """[batch, input_units] -> [batch, output_units]."""
        ### BEGIN SOLUTION
        self.input = input
        return input @ self.weights + self.biases
        ### END SOLUTION

    def backward(self, grad_output):
        """Return (dL/dinput, flat [dL/dW, dL/db]); the bias is shared by every row of the batch."""
        ### BEGIN SOLUTION
        grad_weights = self.input.T @ grad_output
        grad_biases = grad_output.sum(axis=0)
        return grad_output @ self.weights.T, np.r_[grad_weights.ravel(), grad_biases]
        ### END SOLUTION


class Softmax(Layer):
    """Log-softmax over each row: log(exp(x_i) / sum_j exp(x_j)); stable for any magnitude."""

    def forward(self, input):
        """[batch, classes] -> log-probabilities of the same shape (use logsumexp)."""
        ### BEGIN SOLUTION
        self.out = input - logsumexp(input, axis=1, keepdims=True)
        return self.out
        ### END SOLUTION

    def backward(self, grad_output):
        """Return (dL/dinput, []): g - softmax(x) * sum_j g_j, row by row."""
        ### BEGIN SOLUTION
        probs = np.exp(self.out)
        return grad_output - probs * grad_output.sum(axis=1, keepdims=True), []
        ### END SOLUTION


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability p and scale the rest by
    1 / (1 - p), so that evaluation (``training = False``) is the identity."""

    def __init__(self, p=0.5, seed=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop probability p must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng(seed)

    def forward(self, input):
        """Training: draw a fresh mask from self.rng and rescale. Eval: return the input."""
        ### BEGIN SOLUTION
        if not self.training:
            self.scale = np.ones_like(input)
            return input
        keep = self.rng.random(input.shape) >= self.p
        self.scale = keep / (1.0 - self.p)
        return input * self.scale
        ### END SOLUTION

    def backward(self, grad_output):
        """Return (dL/dinput, []) through the mask of the last forward pass."""
        ### BEGIN SOLUTION
        return grad_output * self.scale, []
        ### END SOLUTION


class BatchNorm(Layer):
    """Batch normalization over the batch axis with a learnable scale gamma and shift beta.

    Training: normalize with the batch mean and (biased) variance and update the running
    statistics, running = momentum * running + (1 - momentum) * batch.
    Eval: normalize with the running statistics.
    """

    def __init__(self, units, momentum=0.9, eps=1e-5):
        super().__init__()
        self.gamma = np.ones(units)
        self.beta = np.zeros(units)
        self.params = [self.gamma, self.beta]
        self.momentum = momentum
        self.eps = eps
        self.running_mean = np.zeros(units)
        self.running_var = np.ones(units)

    def forward(self, input):
        """[batch, units] -> [batch, units]."""
        ### BEGIN SOLUTION
        if self.training:
            mean, var = input.mean(axis=0), input.var(axis=0)
            self.running_mean *= self.momentum
            self.running_mean += (1.0 - self.momentum) * mean
            self.running_var *= self.momentum
            self.running_var += (1.0 - self.momentum) * var
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = (input - mean) * self.inv_std
        return self.gamma * self.x_hat + self.beta
        ### END SOLUTION

    def backward(self, grad_output):
        """Return (dL/dinput, flat [dL/dgamma, dL/dbeta]); in training the batch mean and
        variance depend on every input, which adds two terms to dL/dinput."""
        ### BEGIN SOLUTION
        grad_gamma = (grad_output * self.x_hat).sum(axis=0)
        grad_beta = grad_output.sum(axis=0)
        g = grad_output * self.gamma
        if self.training:
            g = g - g.mean(axis=0) - self.x_hat * (g * self.x_hat).mean(axis=0)
        return g * self.inv_std, np.r_[grad_gamma, grad_beta]
        ### END SOLUTION


class Conv1D(Layer):
    """1-D convolution of each row with an odd kernel k of size 2t + 1, zero 'same' padding and
    a scalar bias: y_i = sum_{j=i-t}^{i+t} x_j k_{j-i+t} + b (cross-correlation, as in the
    lectures: the kernel is not flipped)."""

    def __init__(self, kernel_size=3):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.kernel = np.random.randn(kernel_size) * 0.1
        self.bias = np.zeros(1)
        self.params = [self.kernel, self.bias]

    def forward(self, input):
        """[batch, n] -> [batch, n]."""
        ### BEGIN SOLUTION
        t = len(self.kernel) // 2
        self.padded = np.pad(input, ((0, 0), (t, t)))
        windows = np.lib.stride_tricks.sliding_window_view(self.padded, len(self.kernel), axis=1)
        return windows @ self.kernel + self.bias
        ### END SOLUTION

    def backward(self, grad_output):
        """Return (dL/dinput, flat [dL/dkernel, dL/dbias])."""
        ### BEGIN SOLUTION
        size = len(self.kernel)
        t = size // 2
        windows = np.lib.stride_tricks.sliding_window_view(self.padded, size, axis=1)
        grad_kernel = np.einsum("bi,bik->k", grad_output, windows)
        padded_grad = np.pad(grad_output, ((0, 0), (t, t)))
        back = np.lib.stride_tricks.sliding_window_view(padded_grad, size, axis=1)
        grad_input = back @ self.kernel[::-1]
        return grad_input, np.r_[grad_kernel, grad_output.sum()]
        ### END SOLUTION


def crossentropy(activations, target):
    """Mean negative log-likelihood of one-hot `target` under log-probabilities `activations`
    (both [batch, classes]); a scalar."""
    ### BEGIN SOLUTION
    return -np.sum(target * activations) / len(activations)
    ### END SOLUTION


def grad_crossentropy(activations, target):
    """Gradient of `crossentropy` w.r.t. the log-probabilities `activations`."""
    ### BEGIN SOLUTION
    return -target / len(activations)
    ### END SOLUTION


def get_weights(network):
    """All parameters of the network as one flat 1-D array, layer by layer, in params order."""
    ### BEGIN SOLUTION
    flat = [param.ravel() for layer in network for param in layer.params]
    return np.concatenate(flat) if flat else np.zeros(0)
    ### END SOLUTION


def set_weights(weights, network):
    """Copy the flat `weights` into the network's parameter arrays, in place."""
    ### BEGIN SOLUTION
    start = 0
    for layer in network:
        for param in layer.params:
            param[...] = weights[start:start + param.size].reshape(param.shape)
            start += param.size
    ### END SOLUTION


def forward_pass(network, X):
    """Run X through every layer; returns the last layer's output."""
    ### BEGIN SOLUTION
    for layer in network:
        X = layer.forward(X)
    return X
    ### END SOLUTION


def compute_loss_grad(weights, args):
    """Loss and flat gradient for scipy.optimize.minimize(..., jac=True).

    `args` is the tuple (network, X, y) with one-hot y. Sets the weights, runs the forward
    pass, the loss, and the backward pass from the last layer to the first; returns
    (loss, gradient) with the gradient in get_weights order.
    """
    ### BEGIN SOLUTION
    network, X, y = args
    set_weights(weights, network)
    out = forward_pass(network, X)
    loss = crossentropy(out, y)
    grad = grad_crossentropy(out, y)
    grads = []
    for layer in reversed(network):
        grad, grad_params = layer.backward(grad)
        grads.append(np.asarray(grad_params, dtype=float).ravel())
    return loss, np.concatenate(grads[::-1])
    ### END SOLUTION


def predict(network, X):
    """Class labels (integers 0..9, shape [batch]) for the rows of X, in eval mode."""
    ### BEGIN SOLUTION
    switchable = [layer for layer in network if hasattr(layer, "training")]
    modes = [layer.training for layer in switchable]
    for layer in switchable:
        layer.training = False
    try:
        return forward_pass(network, X).argmax(axis=1)
    finally:
        for layer, mode in zip(switchable, modes):
            layer.training = mode
    ### END SOLUTION


def sgd_momentum(fun, x0, args=(), lr=0.1, momentum=0.9, maxiter=100, callback=None):
    """Minimize fun (returning (loss, grad), like compute_loss_grad) with heavy-ball momentum:
    v <- momentum * v - lr * grad;  x <- x + v.  Returns a dict with x, fun and nit."""
    ### BEGIN SOLUTION
    x = np.array(x0, dtype=float)
    velocity = np.zeros_like(x)
    for _ in range(maxiter):
        _, grad = fun(x, *args)
        velocity = momentum * velocity - lr * np.asarray(grad)
        x = x + velocity
        if callback is not None:
            callback(x)
    return {"x": x, "fun": fun(x, *args)[0], "nit": maxiter}
    ### END SOLUTION
