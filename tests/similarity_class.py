"""A test class for `grader similarity` (assignment 3): honest submissions written
independently, copies of one of them under each usual disguise, and one copied from an outside
solution.

Honest: the reference (the demo's `correct` sample), five hand-written authors (A-E) who each
wrote every region and notebook answer in their own way, two who finished only part (F, G),
and the untouched release. The project's mutants (tests/test_checks_a3.py) and the demo's
buggy sample (the seed-000 bugs) are grafted onto the hand-written authors, one author per
mutant, as the bugs those students made; the demo's syntax error breaks author C's file and
author E hands in no notebook. (A mutant or a demo sample taken whole would be the reference
with one region changed: a copy of the reference, not an honest submission.)

Copies of author A: variables renamed, functions reordered, comments and whitespace changed,
code moved between the notebook's cells, and all four at once. `web` copied the outside
solution OUTSIDE (passed to `--against`), renamed and recommented.
"""
from __future__ import annotations

import ast
import io
import json
import re
import textwrap
import tokenize
from pathlib import Path

from grader import course, stubs

A3 = course.get("a3_neural_network")
LAYERS = (course.SOURCE_LAYERS / "layers.py").read_text()
STUB = "# YOUR CODE HERE"

# ---------------------------------------------------------------------------------------------
# Author A: explicit, step by step, np.dot and boolean masks.  (The one that is copied.)
A = {
    "ReLU.forward": """
        self.positive = (input > 0).astype(float)
        return input * self.positive
    """,
    "ReLU.backward": """
        grad_input = grad_output * self.positive
        return grad_input, []
    """,
    "Sigmoid.forward": """
        out = np.empty_like(input, dtype=float)
        pos = input >= 0
        out[pos] = 1.0 / (1.0 + np.exp(-input[pos]))
        ex = np.exp(input[~pos])
        out[~pos] = ex / (1.0 + ex)
        self.sig = out
        return out
    """,
    "Sigmoid.backward": """
        local = self.sig * (1 - self.sig)
        return grad_output * local, []
    """,
    "Tanh.forward": """
        self.t = np.tanh(input)
        return self.t
    """,
    "Tanh.backward": "return grad_output * (1 - self.t * self.t), []",
    "LeakyReLU.forward": """
        self.x = input
        out = input.copy()
        out[input <= 0] *= self.slope
        return out
    """,
    "LeakyReLU.backward": """
        slope = np.ones_like(self.x)
        slope[self.x <= 0] = self.slope
        return grad_output * slope, []
    """,
    "ELU.forward": """
        self.x = input
        negative = np.minimum(input, 0)
        return np.where(input > 0, input, self.alpha * (np.exp(negative) - 1))
    """,
    "ELU.backward": """
        deriv = np.ones_like(self.x)
        neg = self.x <= 0
        deriv[neg] = self.alpha * np.exp(self.x[neg])
        return grad_output * deriv, []
    """,
    "Dense.forward": """
        self.x = input
        return np.dot(input, self.weights) + self.biases
    """,
    "Dense.backward": """
        dW = np.dot(self.x.T, grad_output)
        db = np.sum(grad_output, axis=0)
        dx = np.dot(grad_output, self.weights.T)
        return dx, np.concatenate([dW.flatten(), db.flatten()])
    """,
    "Softmax.forward": """
        shifted = input - input.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.logp = shifted - log_norm
        return self.logp
    """,
    "Softmax.backward": """
        p = np.exp(self.logp)
        total = np.sum(grad_output, axis=1, keepdims=True)
        return grad_output - p * total, []
    """,
    "Dropout.forward": """
        if self.training:
            self.mask = (self.rng.random(input.shape) >= self.p) / (1 - self.p)
        else:
            self.mask = np.ones(input.shape)
        return input * self.mask
    """,
    "Dropout.backward": "return grad_output * self.mask, []",
    "BatchNorm.forward": """
        if not self.training:
            mu, sigma2 = self.running_mean, self.running_var
        else:
            mu = np.mean(input, axis=0)
            sigma2 = np.mean((input - mu) ** 2, axis=0)
            m = self.momentum
            self.running_mean[:] = m * self.running_mean + (1 - m) * mu
            self.running_var[:] = m * self.running_var + (1 - m) * sigma2
        self.std = np.sqrt(sigma2 + self.eps)
        self.xn = (input - mu) / self.std
        return self.xn * self.gamma + self.beta
    """,
    "BatchNorm.backward": """
        n = grad_output.shape[0]
        dgamma = np.sum(grad_output * self.xn, axis=0)
        dbeta = np.sum(grad_output, axis=0)
        dxn = grad_output * self.gamma
        if self.training:
            dx = (n * dxn - dxn.sum(axis=0) - self.xn * np.sum(dxn * self.xn, axis=0)) / (n * self.std)
        else:
            dx = dxn / self.std
        return dx, np.concatenate([dgamma, dbeta])
    """,
    "Conv1D.forward": """
        k = self.kernel.size
        half = k // 2
        self.xpad = np.pad(input, ((0, 0), (half, half)), mode="constant")
        n = input.shape[1]
        out = np.zeros(input.shape)
        for j in range(k):
            out += self.kernel[j] * self.xpad[:, j:j + n]
        return out + self.bias[0]
    """,
    "Conv1D.backward": """
        k = self.kernel.size
        half = k // 2
        n = grad_output.shape[1]
        dk = np.array([np.sum(grad_output * self.xpad[:, j:j + n]) for j in range(k)])
        dpad = np.zeros_like(self.xpad)
        for j in range(k):
            dpad[:, j:j + n] += self.kernel[j] * grad_output
        dx = dpad[:, half:half + n]
        return dx, np.concatenate([dk, [grad_output.sum()]])
    """,
    "crossentropy": """
        batch = activations.shape[0]
        return -np.sum(activations * target) / batch
    """,
    "grad_crossentropy": """
        batch = activations.shape[0]
        return -target / batch
    """,
    "get_weights": """
        pieces = []
        for layer in network:
            for p in layer.params:
                pieces.append(p.flatten())
        if not pieces:
            return np.array([])
        return np.concatenate(pieces)
    """,
    "set_weights": """
        offset = 0
        for layer in network:
            for p in layer.params:
                n = p.size
                p[...] = np.reshape(weights[offset:offset + n], p.shape)
                offset += n
    """,
    "forward_pass": """
        out = X
        for layer in network:
            out = layer.forward(out)
        return out
    """,
    "compute_loss_grad": """
        network, X, y = args
        set_weights(weights, network)
        logp = forward_pass(network, X)
        loss = crossentropy(logp, y)
        g = grad_crossentropy(logp, y)
        collected = []
        for layer in network[::-1]:
            g, gp = layer.backward(g)
            collected.insert(0, np.ravel(gp))
        return loss, np.concatenate(collected)
    """,
    "predict": """
        old = [getattr(layer, "training", None) for layer in network]
        for layer in network:
            layer.training = False
        out = forward_pass(network, X)
        for layer, mode in zip(network, old):
            layer.training = mode
        return np.argmax(out, axis=1)
    """,
    "sgd_momentum": """
        x = np.asarray(x0, dtype=float).copy()
        v = np.zeros(x.shape)
        for it in range(maxiter):
            loss, g = fun(x, *args)
            v = momentum * v - lr * g
            x = x + v
            if callback:
                callback(x)
        return {"x": x, "fun": fun(x, *args)[0], "nit": maxiter}
    """,
}
A_CELLS = {
    "encode_solution": """
        result = np.zeros((labels.shape[0], 10))
        for i, label in enumerate(labels):
            result[i, int(label)] = 1
        return result
    """,
    "create_network_solution": """
        net = []
        net.append(Dense(64, 32))
        net.append(ReLU())
        net.append(Dense(32, 32))
        net.append(ReLU())
        net.append(Dense(32, 10))
        net.append(Softmax())
        return net
    """,
    "callback_solution": """
        set_weights(weights, self.network)
        acc_tr = np.mean(predict(self.network, self.X_train) == np.argmax(self.y_train, axis=1))
        acc_te = np.mean(predict(self.network, self.X_test) == np.argmax(self.y_test, axis=1))
        self.train_acc.append(acc_tr)
        self.test_acc.append(acc_te)
        if self.print:
            print("iteration", len(self.train_acc), "train", acc_tr, "test", acc_te)
    """,
    "plot_curves": """
        steps = range(len(cb.train_acc))
        plt.figure(figsize=(7, 4))
        plt.plot(steps, cb.train_acc, "b-", label="training accuracy")
        plt.plot(steps, cb.test_acc, "r--", label="test accuracy")
        plt.xlabel("iteration")
        plt.ylabel("accuracy")
        plt.legend(loc="lower right")
        plt.show()
        print("final test accuracy:", cb.test_acc[-1])
    """,
    "depth_experiment": """
        def build(depth):
            layers = []
            width = 64
            for d in range(depth - 1):
                layers.append(Dense(width, 32))
                layers.append(ReLU())
                width = 32
            layers.append(Dense(width, 10))
            layers.append(Softmax())
            return layers


        for depth in range(1, 6):
            for run in range(5):
                np.random.seed(run)
                net = build(depth)
                out = minimize(compute_loss_grad, get_weights(net), args=((net, X_train, y_train),),
                               method="L-BFGS-B", jac=True, options={"maxiter": 100})
                set_weights(out.x, net)
                accs_train[depth - 1, run] = accuracy(net, X_train, y_train)
                accs_test[depth - 1, run] = accuracy(net, X_test, y_test)
        print(accs_train.mean(axis=1), accs_test.mean(axis=1))
    """,
}

# ---------------------------------------------------------------------------------------------
# Author B: terse one-liners, @, np.where everywhere.
B = {
    "ReLU.forward": "self.inp = input\nreturn np.maximum(input, 0)",
    "ReLU.backward": "return grad_output * (self.inp > 0), []",
    "Sigmoid.forward": "self.s = 0.5 * (1 + np.tanh(input / 2))\nreturn self.s",
    "Sigmoid.backward": "return grad_output * self.s * (1 - self.s), []",
    "Tanh.forward": "self.out = np.tanh(input)\nreturn self.out",
    "Tanh.backward": "return grad_output * (1 - self.out ** 2), []",
    "LeakyReLU.forward": "self.inp = input\nreturn np.where(input > 0, input, input * self.slope)",
    "LeakyReLU.backward": "return np.where(self.inp > 0, grad_output, grad_output * self.slope), []",
    "ELU.forward": """
        self.inp = input
        return np.where(input > 0, input, self.alpha * np.expm1(np.clip(input, None, 0)))
    """,
    "ELU.backward": """
        e = self.alpha * np.exp(np.clip(self.inp, None, 0))
        return grad_output * np.where(self.inp > 0, 1, e), []
    """,
    "Dense.forward": "self.inp = input\nreturn input @ self.weights + self.biases",
    "Dense.backward": """
        return grad_output @ self.weights.T, np.r_[(self.inp.T @ grad_output).ravel(), grad_output.sum(0)]
    """,
    "Softmax.backward": "return grad_output - np.exp(self.lp) * grad_output.sum(1, keepdims=True), []",
    "Dropout.forward": """
        self.m = (self.rng.random(input.shape) >= self.p) / (1 - self.p) if self.training else 1.0
        return input * self.m
    """,
    "Dropout.backward": "return grad_output * self.m, []",
    "BatchNorm.forward": """
        if self.training:
            m, v = input.mean(0), input.var(0)
            self.running_mean[:] = self.momentum * self.running_mean + (1 - self.momentum) * m
            self.running_var[:] = self.momentum * self.running_var + (1 - self.momentum) * v
        else:
            m, v = self.running_mean, self.running_var
        self.istd = (v + self.eps) ** -0.5
        self.xh = (input - m) * self.istd
        return self.gamma * self.xh + self.beta
    """,
    "BatchNorm.backward": """
        d = grad_output * self.gamma
        if self.training:
            d = d - d.mean(0) - self.xh * (d * self.xh).mean(0)
        return d * self.istd, np.r_[(grad_output * self.xh).sum(0), grad_output.sum(0)]
    """,
    "Conv1D.forward": """
        t = len(self.kernel) // 2
        self.xp = np.pad(input, [(0, 0), (t, t)])
        cols = np.stack([self.xp[:, i:i + input.shape[1]] for i in range(len(self.kernel))], -1)
        self.cols = cols
        return cols @ self.kernel + self.bias
    """,
    "Conv1D.backward": """
        t = len(self.kernel) // 2
        gk = np.tensordot(grad_output, self.cols, axes=([0, 1], [0, 1]))
        gp = np.zeros(self.xp.shape)
        for i in range(len(self.kernel)):
            gp[:, i:i + grad_output.shape[1]] += grad_output * self.kernel[i]
        return gp[:, t:gp.shape[1] - t], np.r_[gk, grad_output.sum()]
    """,
    "grad_crossentropy": "return -target / target.shape[0]",
    "get_weights": "return np.concatenate([np.ravel(p) for l in network for p in l.params] or [np.zeros(0)])",
    "set_weights": """
        i = 0
        for l in network:
            for p in l.params:
                p.flat[:] = weights[i:i + p.size]
                i += p.size
    """,
    "forward_pass": """
        for l in network:
            X = l.forward(X)
        return X
    """,
    "compute_loss_grad": """
        net, X, y = args
        set_weights(weights, net)
        a = forward_pass(net, X)
        g = grad_crossentropy(a, y)
        gs = []
        for l in net[::-1]:
            g, gp = l.backward(g)
            gs = [np.ravel(gp)] + gs
        return crossentropy(a, y), np.concatenate(gs)
    """,
    "sgd_momentum": """
        x, v = np.array(x0, float), 0
        for _ in range(maxiter):
            v = momentum * v - lr * fun(x, *args)[1]
            x = x + v
            callback and callback(x)
        return dict(x=x, fun=fun(x, *args)[0], nit=maxiter)
    """,
}
B_CELLS = {
    "encode_solution": "return np.eye(10)[np.asarray(labels, int)]",
    "create_network_solution": "return [Dense(64, 32), ReLU(), Dense(32, 32), ReLU(), Dense(32, 10), Softmax()]",
    "callback_solution": """
        set_weights(weights, self.network)
        for X, Y, acc in ((self.X_train, self.y_train, self.train_acc), (self.X_test, self.y_test, self.test_acc)):
            acc.append((predict(self.network, X) == Y.argmax(1)).mean())
        self.print and print(self.train_acc[-1], self.test_acc[-1])
    """,
    "plot_curves": """
        plt.semilogx(cb.train_acc, label="train")
        plt.semilogx(cb.test_acc, label="test")
        plt.legend(); plt.grid(); plt.show()
    """,
}

# ---------------------------------------------------------------------------------------------
# Author C: caches inputs, recomputes in backward, comments in French-ish English.
C = {
    "ReLU.forward": """
        # keep input for backward
        self.cache = input
        out = input.copy()
        out[out < 0] = 0
        return out
    """,
    "ReLU.backward": """
        dx = grad_output.copy()
        dx[self.cache <= 0] = 0
        return dx, []
    """,
    "Sigmoid.forward": """
        self.cache = input
        return np.exp(-np.logaddexp(0, -input))
    """,
    "Sigmoid.backward": """
        s = np.exp(-np.logaddexp(0, -self.cache))
        return grad_output * s * (1 - s), []
    """,
    "LeakyReLU.forward": """
        self.cache = input
        return np.maximum(input, 0) + self.slope * np.minimum(input, 0)
    """,
    "ELU.forward": """
        self.cache = input
        result = input.astype(float).copy()
        small = input <= 0
        result[small] = self.alpha * (np.exp(input[small]) - 1)
        return result
    """,
    "ELU.backward": """
        x = self.cache
        dx = grad_output.copy()
        dx[x <= 0] *= self.alpha * np.exp(x[x <= 0])
        return dx, []
    """,
    "Dense.forward": """
        self.cache = input
        out = input.dot(self.weights)
        out += self.biases
        return out
    """,
    "Dense.backward": """
        x = self.cache
        grad_x = grad_output.dot(self.weights.T)
        grad_w = x.T.dot(grad_output)
        grad_b = grad_output.sum(axis=0)
        flat = np.hstack((grad_w.reshape(-1), grad_b))
        return grad_x, flat
    """,
    "Softmax.forward": """
        self.cache = input
        from scipy.special import log_softmax
        return log_softmax(input, axis=1)
    """,
    "Softmax.backward": """
        from scipy.special import softmax
        sm = softmax(self.cache, axis=1)
        dot = (grad_output).sum(axis=1)[:, None]
        return grad_output - sm * dot, []
    """,
    "Dropout.backward": """
        if self.training:
            return grad_output * self.keep / (1 - self.p), []
        return grad_output, []
    """,
    "BatchNorm.forward": """
        self.cache = input
        if self.training:
            mean = input.sum(axis=0) / len(input)
            var = ((input - mean) ** 2).sum(axis=0) / len(input)
            self.running_mean *= self.momentum
            self.running_mean += (1 - self.momentum) * mean
            self.running_var *= self.momentum
            self.running_var += (1 - self.momentum) * var
        else:
            mean = self.running_mean
            var = self.running_var
        self.mean, self.var = mean, var
        return self.gamma * (input - mean) / np.sqrt(var + self.eps) + self.beta
    """,
    "BatchNorm.backward": """
        x = self.cache
        N = len(x)
        inv = 1 / np.sqrt(self.var + self.eps)
        xhat = (x - self.mean) * inv
        dgamma = (grad_output * xhat).sum(axis=0)
        dbeta = grad_output.sum(axis=0)
        dxhat = grad_output * self.gamma
        if not self.training:
            return dxhat * inv, np.hstack((dgamma, dbeta))
        dvar = (dxhat * (x - self.mean)).sum(axis=0) * -0.5 * inv ** 3
        dmean = -(dxhat * inv).sum(axis=0) - 2 * dvar * (x - self.mean).mean(axis=0)
        dx = dxhat * inv + dvar * 2 * (x - self.mean) / N + dmean / N
        return dx, np.hstack((dgamma, dbeta))
    """,
    "Conv1D.forward": """
        self.cache = input
        K = len(self.kernel)
        t = K // 2
        out = np.full(input.shape, self.bias[0], dtype=float)
        for i in range(input.shape[1]):
            for j in range(K):
                src = i + j - t
                if 0 <= src < input.shape[1]:
                    out[:, i] += input[:, src] * self.kernel[j]
        return out
    """,
    "Conv1D.backward": """
        x = self.cache
        K = len(self.kernel)
        t = K // 2
        dx = np.zeros(x.shape)
        dk = np.zeros(K)
        for i in range(x.shape[1]):
            for j in range(K):
                src = i + j - t
                if 0 <= src < x.shape[1]:
                    dx[:, src] += grad_output[:, i] * self.kernel[j]
                    dk[j] += np.dot(grad_output[:, i], x[:, src])
        return dx, np.hstack((dk, grad_output.sum()))
    """,
    "crossentropy": """
        N = len(target)
        total = 0.0
        for i in range(N):
            total -= activations[i].dot(target[i])
        return total / N
    """,
    "grad_crossentropy": """
        N = len(target)
        return -1.0 * target / N
    """,
    "set_weights": """
        pos = 0
        for layer in network:
            for k in range(len(layer.params)):
                size = layer.params[k].size
                np.copyto(layer.params[k], weights[pos:pos + size].reshape(layer.params[k].shape))
                pos = pos + size
    """,
    "forward_pass": """
        h = X
        for i in range(len(network)):
            h = network[i].forward(h)
        return h
    """,
    "compute_loss_grad": """
        (net, inputs, targets) = args
        set_weights(weights, net)
        preds = forward_pass(net, inputs)
        value = crossentropy(preds, targets)
        upstream = grad_crossentropy(preds, targets)
        grads = [None] * len(net)
        for i in range(len(net) - 1, -1, -1):
            upstream, g = net[i].backward(upstream)
            grads[i] = np.array(g, dtype=float).reshape(-1)
        return value, np.hstack(grads)
    """,
    "predict": """
        saved = {}
        for i, layer in enumerate(network):
            saved[i] = layer.training
            layer.eval()
        scores = forward_pass(network, X)
        for i, layer in enumerate(network):
            layer.training = saved[i]
        return scores.argmax(axis=1)
    """,
    "sgd_momentum": """
        x = np.array(x0, dtype=float)
        vel = np.zeros_like(x)
        n = 0
        while n < maxiter:
            grad = fun(x, *args)[1]
            vel = momentum * vel - lr * grad
            x += vel
            n += 1
            if callback is not None:
                callback(x)
        result = {}
        result["x"] = x
        result["fun"] = fun(x, *args)[0]
        result["nit"] = n
        return result
    """,
}
C_CELLS = {
    "encode_solution": """
        # one row per label, a 1 in the column of the label
        out = np.zeros((len(labels), 10))
        out[range(len(labels)), labels] = 1
        return out
    """,
    "create_network_solution": """
        sizes = [64, 32, 32, 10]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [Dense(a, b), ReLU()]
        layers[-1] = Softmax()
        return layers
    """,
    "callback_solution": """
        set_weights(weights, self.network)
        true_train = self.y_train.argmax(axis=1)
        true_test = self.y_test.argmax(axis=1)
        self.train_acc.append((predict(self.network, self.X_train) == true_train).mean())
        self.test_acc.append((predict(self.network, self.X_test) == true_test).mean())
    """,
}

# ---------------------------------------------------------------------------------------------
# Author D: a beginner's verbose code with comments and the seed-000 student's bugs.
D = {
    "ReLU.forward": """
        # remember where the input is positive
        self.where_positive = input > 0
        output = input * self.where_positive
        return output
    """,
    "ReLU.backward": """
        # gradient is zero where input was negative
        grad_input = grad_output * self.where_positive
        return grad_input, []
    """,
    "Sigmoid.forward": """
        # clip to avoid overflow
        clipped = np.clip(input, -500, 500)
        self.output = 1 / (1 + np.exp(-clipped))
        return self.output
    """,
    "Sigmoid.backward": """
        derivative = self.output * (1 - self.output)
        return grad_output * derivative, []
    """,
    "Tanh.forward": """
        # tanh from exponentials
        e_plus = np.exp(np.clip(input, -50, 50))
        e_minus = np.exp(-np.clip(input, -50, 50))
        self.output = (e_plus - e_minus) / (e_plus + e_minus)
        return self.output
    """,
    "Tanh.backward": """
        derivative = 1 - self.output ** 2
        return grad_output * derivative, []
    """,
    "LeakyReLU.forward": """
        self.input = input
        output = np.zeros_like(input)
        for i in range(input.shape[0]):
            for j in range(input.shape[1]):
                if input[i, j] > 0:
                    output[i, j] = input[i, j]
                else:
                    output[i, j] = self.slope * input[i, j]
        return output
    """,
    "LeakyReLU.backward": """
        grad_input = np.zeros_like(grad_output)
        for i in range(grad_output.shape[0]):
            for j in range(grad_output.shape[1]):
                if self.input[i, j] > 0:
                    grad_input[i, j] = grad_output[i, j]
                else:
                    grad_input[i, j] = self.slope * grad_output[i, j]
        return grad_input, []
    """,
    "ELU.forward": """
        self.input = input
        output = np.zeros_like(input, dtype=float)
        for i in range(input.shape[0]):
            for j in range(input.shape[1]):
                if input[i, j] > 0:
                    output[i, j] = input[i, j]
                else:
                    output[i, j] = self.alpha * (np.exp(input[i, j]) - 1)
        return output
    """,
    "Dense.forward": """
        # save the input because backward needs it
        self.input = input
        output = np.matmul(input, self.weights)
        output = output + self.biases
        return output
    """,
    "Softmax.forward": """
        # subtract the max so exp does not overflow
        biggest = np.max(input, axis=1, keepdims=True)
        exps = np.exp(input - biggest)
        sums = np.sum(exps, axis=1, keepdims=True)
        self.probabilities = exps / sums
        return np.log(self.probabilities)
    """,
    "Softmax.backward": """
        row_sums = np.sum(grad_output, axis=1, keepdims=True)
        grad_input = grad_output - self.probabilities * row_sums
        return grad_input, []
    """,
    "BatchNorm.forward": """
        if self.training:
            # statistics of this batch
            batch_mean = np.mean(input, axis=0)
            batch_var = np.var(input, axis=0)
            # update the running statistics
            self.running_mean[:] = self.momentum * self.running_mean + (1 - self.momentum) * batch_mean
            self.running_var[:] = self.momentum * self.running_var + (1 - self.momentum) * batch_var
            self.used_mean = batch_mean
            self.used_var = batch_var
        else:
            self.used_mean = self.running_mean
            self.used_var = self.running_var
        self.normalized = (input - self.used_mean) / np.sqrt(self.used_var + self.eps)
        output = self.gamma * self.normalized + self.beta
        return output
    """,
    "Conv1D.forward": """
        size = len(self.kernel)
        half = size // 2
        batch, n = input.shape
        self.padded_input = np.zeros((batch, n + 2 * half))
        self.padded_input[:, half:half + n] = input
        output = np.zeros((batch, n))
        for b in range(batch):
            for i in range(n):
                window = self.padded_input[b, i:i + size]
                output[b, i] = np.sum(window * self.kernel) + self.bias[0]
        return output
    """,
    "Conv1D.backward": """
        size = len(self.kernel)
        half = size // 2
        batch, n = grad_output.shape
        grad_kernel = np.zeros(size)
        grad_padded = np.zeros(self.padded_input.shape)
        for b in range(batch):
            for i in range(n):
                grad_kernel = grad_kernel + grad_output[b, i] * self.padded_input[b, i:i + size]
                grad_padded[b, i:i + size] = grad_padded[b, i:i + size] + grad_output[b, i] * self.kernel
        grad_bias = np.sum(grad_output)
        grad_input = grad_padded[:, half:half + n]
        return grad_input, np.append(grad_kernel, grad_bias)
    """,
    "crossentropy": """
        # mean over the batch
        number_of_samples = activations.shape[0]
        loss = -np.sum(target * activations) / number_of_samples
        return loss
    """,
    "get_weights": """
        all_weights = []
        for layer in network:
            for parameter in layer.params:
                all_weights.extend(parameter.ravel().tolist())
        return np.array(all_weights)
    """,
    "set_weights": """
        position = 0
        for layer in network:
            for parameter in layer.params:
                count = parameter.size
                new_values = weights[position:position + count]
                parameter[...] = new_values.reshape(parameter.shape)
                position = position + count
    """,
    "forward_pass": """
        current = X
        for layer in network:
            current = layer.forward(current)
        output = current
        return output
    """,
    "compute_loss_grad": """
        network = args[0]
        X = args[1]
        y = args[2]
        set_weights(weights, network)
        output = forward_pass(network, X)
        loss = crossentropy(output, y)
        grad = grad_crossentropy(output, y)
        all_grads = []
        for layer in reversed(network):
            grad, layer_grads = layer.backward(grad)
            all_grads = list(np.ravel(layer_grads)) + all_grads
        return loss, np.array(all_grads)
    """,
    "predict": """
        # switch every layer to evaluation mode first
        for layer in network:
            layer.training = False
        output = forward_pass(network, X)
        labels = np.argmax(output, axis=1)
        # and back to training mode
        for layer in network:
            layer.training = True
        return labels
    """,
}
D_CELLS = {
    "encode_solution": """
        # make a matrix of zeros and put a one for each label
        number = len(labels)
        encoded = np.zeros((number, 10))
        for index in range(number):
            encoded[index][labels[index]] = 1
        return encoded
    """,
    "create_network_solution": """
        # the network from the instructions
        first = Dense(64, 32)
        second = Dense(32, 32)
        third = Dense(32, 10)
        network = [first, ReLU(), second, ReLU(), third, Softmax()]
        return network
    """,
    "callback_solution": """
        # put the weights into the network
        set_weights(weights, self.network)
        # accuracy on the training set
        predicted_train = predict(self.network, self.X_train)
        correct_train = np.argmax(self.y_train, axis=1)
        self.train_acc.append(np.sum(predicted_train == correct_train) / len(correct_train))
        # accuracy on the test set
        predicted_test = predict(self.network, self.X_test)
        correct_test = np.argmax(self.y_test, axis=1)
        self.test_acc.append(np.sum(predicted_test == correct_test) / len(correct_test))
    """,
    "plot_curves": """
        # plot the accuracies
        plt.plot(cb.train_acc)
        plt.plot(cb.test_acc)
        plt.title("accuracy")
        plt.show()
    """,
}

# ---------------------------------------------------------------------------------------------
# Author E: mathematical, einsum and np.outer, functional helpers.  Hands in no notebook.
E = {
    "ReLU.forward": """
        self.d = np.heaviside(input, 0.0)
        return self.d * input
    """,
    "ReLU.backward": "return np.multiply(grad_output, self.d), []",
    "Sigmoid.forward": """
        z = np.exp(-np.abs(input))
        self.y = np.where(input >= 0, 1 / (1 + z), z / (1 + z))
        return self.y
    """,
    "Sigmoid.backward": "return np.einsum('ij,ij->ij', grad_output, self.y - self.y ** 2), []",
    "LeakyReLU.forward": """
        self.d = np.where(input > 0, 1.0, self.slope)
        return self.d * input
    """,
    "LeakyReLU.backward": "return np.multiply(grad_output, self.d), []",
    "ELU.forward": """
        self.y = np.where(input > 0, input, self.alpha * np.expm1(np.fmin(input, 0)))
        self.d = np.where(input > 0, 1.0, self.y + self.alpha)
        return self.y
    """,
    "ELU.backward": "return np.multiply(grad_output, self.d), []",
    "Dense.backward": """
        dW = np.einsum('bi,bo->io', self.x, grad_output)
        db = np.einsum('bo->o', grad_output)
        dx = np.einsum('bo,io->bi', grad_output, self.weights)
        return dx, np.concatenate((dW.ravel(), db))
    """,
    "Softmax.forward": """
        c = np.max(input, axis=-1, keepdims=True)
        lse = c + np.log(np.sum(np.exp(input - c), axis=-1, keepdims=True))
        self.y = input - lse
        return self.y
    """,
    "Dropout.forward": """
        keep = 1.0 - self.p
        if self.training:
            self.d = np.greater_equal(self.rng.random(np.shape(input)), self.p) / keep
            return np.multiply(input, self.d)
        self.d = np.ones_like(input)
        return input
    """,
    "Dropout.backward": "return np.multiply(grad_output, self.d), []",
    "BatchNorm.forward": """
        if self.training:
            mu, var = np.mean(input, 0), np.var(input, 0)
            self.running_mean[:] = np.average([self.running_mean, mu], axis=0, weights=[self.momentum, 1 - self.momentum])
            self.running_var[:] = np.average([self.running_var, var], axis=0, weights=[self.momentum, 1 - self.momentum])
        else:
            mu, var = self.running_mean, self.running_var
        self.r = np.reciprocal(np.sqrt(var + self.eps))
        self.z = np.einsum('bi,i->bi', input - mu, self.r)
        return np.einsum('bi,i->bi', self.z, self.gamma) + self.beta
    """,
    "BatchNorm.backward": """
        dz = np.einsum('bi,i->bi', grad_output, self.gamma)
        if self.training:
            dz = dz - np.mean(dz, 0) - self.z * np.mean(dz * self.z, 0)
        grads = np.concatenate((np.einsum('bi,bi->i', grad_output, self.z), np.sum(grad_output, 0)))
        return np.einsum('bi,i->bi', dz, self.r), grads
    """,
    "crossentropy": "return -np.einsum('bc,bc->', activations, target) / np.shape(target)[0]",
    "grad_crossentropy": "return np.negative(target) / np.shape(target)[0]",
    "get_weights": """
        from itertools import chain
        return np.fromiter(chain.from_iterable(p.ravel() for layer in network for p in layer.params), float)
    """,
    "forward_pass": """
        from functools import reduce
        return reduce(lambda h, layer: layer.forward(h), network, X)
    """,
    "predict": """
        modes = [(layer, layer.training) for layer in network]
        for layer, _ in modes:
            layer.training = False
        try:
            return np.argmax(forward_pass(network, X), axis=-1)
        finally:
            for layer, mode in modes:
                layer.training = mode
    """,
}
E_CELLS = {}     # E hands in no notebook

# ---------------------------------------------------------------------------------------------
# F and G finished part of the work (the rest is the release's stub).
F = {
    "ReLU.forward": "self.mask = input > 0\nreturn np.maximum(input, 0)",
    "ReLU.backward": "return grad_output * self.mask, []",
    "Tanh.forward": "self.y = np.tanh(input)\nreturn self.y",
    "Tanh.backward": "return grad_output * (1 - np.square(self.y)), []",
    "Dense.forward": "self.saved = input\nreturn input @ self.weights + self.biases",
    "crossentropy": "return -(target * activations).sum() / activations.shape[0]",
    "grad_crossentropy": "return -target / activations.shape[0]",
    "forward_pass": """
        result = X
        for layer in network:
            result = layer.forward(result)
        return result
    """,
    "Softmax.forward": """
        self.logp = input - logsumexp(input, axis=1, keepdims=True)
        return self.logp
    """,
}
F_CELLS = {
    "encode_solution": "return np.identity(10)[labels]",
    "create_network_solution": """
        return [Dense(64, 32), ReLU(), Dense(32, 32), ReLU(), Dense(32, 10), Softmax()]
    """,
}
G = {
    "ReLU.forward": "self.x = input\nreturn np.where(input > 0, input, 0)",
    "ReLU.backward": "return np.where(self.x > 0, grad_output, 0), []",
    "Sigmoid.forward": "self.s = 1 / (1 + np.exp(-input))\nreturn self.s",
    "Sigmoid.backward": "return grad_output * self.s * (1 - self.s), []",
    "Tanh.forward": "self.th = np.tanh(input)\nreturn self.th",
    "Tanh.backward": "return grad_output * (1 - self.th ** 2), []",
    "LeakyReLU.forward": "self.x = input\nreturn np.where(input > 0, input, self.slope * input)",
    "LeakyReLU.backward": "return np.where(self.x > 0, grad_output, self.slope * grad_output), []",
    "Dense.forward": "self.x = input\nreturn input @ self.weights + self.biases",
    "Softmax.backward": """
        p = np.exp(self.out)
        return grad_output - p * np.sum(grad_output, axis=1, keepdims=True), []
    """,
    "crossentropy": "return -np.mean(np.sum(target * activations, axis=1))",
    "grad_crossentropy": "return -target / len(target)",
    "get_weights": "return np.concatenate([p.ravel() for layer in network for p in layer.params])",
    "set_weights": """
        i = 0
        for layer in network:
            for p in layer.params:
                p[:] = weights[i:i + p.size].reshape(p.shape)
                i += p.size
    """,
    "forward_pass": """
        for layer in network:
            X = layer.forward(X)
        return X
    """,
}
G_CELLS = {
    "encode_solution": """
        onehot = np.zeros((labels.size, 10))
        onehot[np.arange(labels.size), labels] = 1
        return onehot
    """,
    "create_network_solution": """
        return [Dense(64, 32), ReLU(), Dense(32, 32), ReLU(), Dense(32, 10), Softmax()]
    """,
    "callback_solution": """
        set_weights(weights, self.network)
        self.train_acc.append(np.mean(predict(self.network, self.X_train) == self.y_train.argmax(1)))
        self.test_acc.append(np.mean(predict(self.network, self.X_test) == self.y_test.argmax(1)))
    """,
}

# ---------------------------------------------------------------------------------------------
# An outside solution (say, a repository found online): layers only, its own style.
OUTSIDE = {
    "ReLU.forward": """
        self.cache_in = input
        return input.clip(min=0)
    """,
    "ReLU.backward": """
        upstream = grad_output.copy()
        upstream[self.cache_in <= 0] = 0.0
        return upstream, []
    """,
    "Sigmoid.forward": """
        self.cache_out = scipy_expit(input)
        return self.cache_out
    """,
    "Sigmoid.backward": """
        s = self.cache_out
        return grad_output * s * (1.0 - s), []
    """,
    "Tanh.forward": """
        self.cache_out = 2.0 * scipy_expit(2.0 * input) - 1.0
        return self.cache_out
    """,
    "Tanh.backward": """
        t = self.cache_out
        return grad_output * (1.0 - t * t), []
    """,
    "LeakyReLU.forward": """
        self.cache_in = input
        return np.maximum(input, self.slope * input) if self.slope <= 1 else np.minimum(input, self.slope * input)
    """,
    "LeakyReLU.backward": """
        local = np.full(self.cache_in.shape, self.slope, dtype=float)
        local[self.cache_in > 0] = 1.0
        return grad_output * local, []
    """,
    "ELU.forward": """
        self.cache_in = input
        neg = np.minimum(input, 0.0)
        return np.maximum(input, 0.0) + self.alpha * (np.exp(neg) - 1.0)
    """,
    "ELU.backward": """
        x = self.cache_in
        local = np.where(x > 0, 1.0, self.alpha * np.exp(np.minimum(x, 0.0)))
        return grad_output * local, []
    """,
    "Dense.forward": """
        self.cache_in = input
        return np.add(np.matmul(input, self.weights), self.biases)
    """,
    "Dense.backward": """
        x = self.cache_in
        grad_w = np.matmul(x.T, grad_output)
        grad_b = grad_output.sum(axis=0)
        grad_x = np.matmul(grad_output, self.weights.T)
        return grad_x, np.hstack([grad_w.ravel(), grad_b.ravel()])
    """,
    "Softmax.forward": """
        m = np.amax(input, axis=1, keepdims=True)
        self.cache_out = input - m - np.log(np.exp(input - m).sum(axis=1, keepdims=True))
        return self.cache_out
    """,
    "Softmax.backward": """
        soft = np.exp(self.cache_out)
        return grad_output - soft * grad_output.sum(axis=1, keepdims=True), []
    """,
    "Dropout.forward": """
        if not self.training:
            self.cache_mask = None
            return input
        self.cache_mask = (self.rng.random(input.shape) >= self.p).astype(float) / (1.0 - self.p)
        return input * self.cache_mask
    """,
    "Dropout.backward": """
        if self.cache_mask is None:
            return grad_output, []
        return grad_output * self.cache_mask, []
    """,
    "BatchNorm.forward": """
        if self.training:
            mean = input.mean(axis=0)
            var = input.var(axis=0)
            self.running_mean[:] = self.momentum * self.running_mean + (1.0 - self.momentum) * mean
            self.running_var[:] = self.momentum * self.running_var + (1.0 - self.momentum) * var
        else:
            mean, var = self.running_mean, self.running_var
        self.cache_std = np.sqrt(var + self.eps)
        self.cache_norm = (input - mean) / self.cache_std
        return self.cache_norm * self.gamma + self.beta
    """,
    "BatchNorm.backward": """
        norm, std = self.cache_norm, self.cache_std
        grad_norm = grad_output * self.gamma
        if self.training:
            grad_in = (grad_norm - grad_norm.mean(axis=0) - norm * (grad_norm * norm).mean(axis=0)) / std
        else:
            grad_in = grad_norm / std
        return grad_in, np.hstack([(grad_output * norm).sum(axis=0), grad_output.sum(axis=0)])
    """,
    "Conv1D.forward": """
        size = self.kernel.shape[0]
        pad = size // 2
        self.cache_in = np.pad(input, ((0, 0), (pad, pad)))
        width = input.shape[1]
        return sum(self.kernel[j] * self.cache_in[:, j:j + width] for j in range(size)) + self.bias[0]
    """,
    "Conv1D.backward": """
        size = self.kernel.shape[0]
        pad = size // 2
        width = grad_output.shape[1]
        grad_k = np.array([(grad_output * self.cache_in[:, j:j + width]).sum() for j in range(size)])
        grad_padded = np.zeros(self.cache_in.shape)
        for j in range(size):
            grad_padded[:, j:j + width] += self.kernel[j] * grad_output
        return grad_padded[:, pad:pad + width], np.hstack([grad_k, grad_output.sum()])
    """,
    "crossentropy": """
        rows = activations.shape[0]
        return float(-(activations * target).sum() / rows)
    """,
    "grad_crossentropy": """
        rows = activations.shape[0]
        return -target / float(rows)
    """,
    "get_weights": """
        flat = [param.reshape(-1) for layer in network for param in layer.params]
        return np.hstack(flat) if len(flat) > 0 else np.empty(0)
    """,
    "set_weights": """
        cursor = 0
        for layer in network:
            for param in layer.params:
                param.flat[:] = weights[cursor:cursor + param.size]
                cursor += param.size
    """,
    "forward_pass": """
        activation = X
        for layer in network:
            activation = layer.forward(activation)
        return activation
    """,
    "compute_loss_grad": """
        network, X, y = args
        set_weights(weights, network)
        scores = forward_pass(network, X)
        upstream = grad_crossentropy(scores, y)
        stack = []
        for layer in reversed(network):
            upstream, param_grad = layer.backward(upstream)
            stack.append(np.asarray(param_grad, dtype=float).reshape(-1))
        stack.reverse()
        return crossentropy(scores, y), np.hstack(stack) if stack else np.empty(0)
    """,
    "predict": """
        previous = {}
        for index, layer in enumerate(network):
            if hasattr(layer, "training"):
                previous[index] = layer.training
                layer.training = False
        scores = forward_pass(network, X)
        for index, mode in previous.items():
            network[index].training = mode
        return scores.argmax(axis=1)
    """,
    "sgd_momentum": """
        params = np.array(x0, dtype=float)
        speed = np.zeros_like(params)
        for step in range(maxiter):
            _, gradient = fun(params, *args)
            speed = momentum * speed - lr * np.asarray(gradient)
            params = params + speed
            if callback is not None:
                callback(params)
        return {"x": params, "fun": fun(params, *args)[0], "nit": maxiter}
    """,
}
WEB_CELLS = {     # the student who copied OUTSIDE wrote the notebook themselves
    "encode_solution": """
        return (np.arange(10) == np.asarray(labels)[:, None]).astype(float)
    """,
    "create_network_solution": """
        layers = [Dense(64, 32), ReLU(), Dense(32, 32), ReLU(), Dense(32, 10), Softmax()]
        return layers
    """,
    "callback_solution": """
        set_weights(weights, self.network)
        self.train_acc.append(float((predict(self.network, self.X_train) == self.y_train.argmax(axis=1)).mean()))
        self.test_acc.append(float((predict(self.network, self.X_test) == self.y_test.argmax(axis=1)).mean()))
    """,
}


def _mutants():
    from .test_mutants_a3 import MUTANTS
    return {name: mutant.bodies for name, mutant in MUTANTS.items() if mutant.bodies}


AUTHORS_WITH_MUTANTS = ("B", "C", "D", "E", "F", "G")


def grafts(mutants: dict) -> dict:
    """Which author made which of the project's mutants: every mutant that changes layers.py
    is grafted once, on the author with the fewest so far whose grafts touch none of its
    regions (a region changed twice would keep only the last mutant)."""
    chosen = {author: [] for author in AUTHORS_WITH_MUTANTS}
    touched = {author: set() for author in AUTHORS_WITH_MUTANTS}
    for name in sorted(mutants):
        regions = set(mutants[name])
        author = min((a for a in AUTHORS_WITH_MUTANTS if not regions & touched[a]),
                     key=lambda a: len(chosen[a]))
        chosen[author].append(name)
        touched[author] |= regions
    return chosen


def authors() -> dict[str, tuple[dict, dict]]:
    """name -> (layers.py regions, notebook answers) of every honest hand-written author, with
    the mutants grafted."""
    mutants = _mutants()
    chosen = grafts(mutants)
    assert sorted(m for ms in chosen.values() for m in ms) == sorted(mutants), "graft every mutant"
    found = {"A": (A, A_CELLS), "B": (B, B_CELLS), "C": (C, C_CELLS), "D": (D, D_CELLS),
             "E": (E, E_CELLS), "F": (F, F_CELLS), "G": (G, G_CELLS)}
    grafted = {}
    for name, (regions, cells) in found.items():
        regions = dict(regions)
        for mutant in chosen.get(name, []):
            regions.update(mutants[mutant])
        grafted[name] = (regions, cells)
    return grafted


# ---------------------------------------------------------------------------------------------
# Writing submissions

def layers_text(regions: dict) -> str:
    """The student's layers.py: the release's stub with these regions written."""
    return stubs.fill(LAYERS, regions, default=stubs.STUB_BODY)


def answer(release_source: str, body: str) -> str:
    """A released solution cell with its stub (`# YOUR CODE HERE` + raise) replaced by `body`."""
    lines = release_source.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == STUB)
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    body = textwrap.indent(textwrap.dedent(body).strip("\n"), indent)
    return "\n".join(lines[:at] + body.splitlines() + lines[at + 2:])


def released_notebook(release_dir: Path) -> dict:
    return json.loads((release_dir / A3.notebook).read_text())


def notebook_with(release_nb: dict, answers: dict) -> dict:
    """The released notebook with `answers` ({grade_id: body or whole source}) filled in."""
    nb = json.loads(json.dumps(release_nb))
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id](_source(cell)) if callable(answers[grade_id]) \
                else answer(_source(cell), answers[grade_id])
    return nb


def _source(cell) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def write(folder: Path, layers: str | None, nb: dict | None):
    folder.mkdir(parents=True, exist_ok=True)
    if layers is not None:
        (folder / "layers.py").write_text(layers)
    if nb is not None:
        (folder / A3.notebook).write_text(json.dumps(nb, indent=1))


# ---------------------------------------------------------------------------------------------
# Disguises (applied to the text a student hands in)

def rename(code: str, names: dict) -> str:
    """Every NAME token in `names` renamed (variables, attributes, parameters); the rest of the
    text is left as it was."""
    lines = code.splitlines(keepends=True)
    edits = [(tok.start, tok.end[1], names[tok.string])
             for tok in tokenize.generate_tokens(io.StringIO(code).readline)
             if tok.type == tokenize.NAME and tok.string in names]
    for (row, col), end, new in reversed(edits):
        lines[row - 1] = lines[row - 1][:col] + new + lines[row - 1][end:]
    return "".join(lines)


RENAMES = {   # what the renaming copier of A changed
    "positive": "is_pos", "grad_input": "g_in", "out": "res", "pos": "nonneg", "ex": "e_x",
    "sig": "sigma", "local": "slope_here", "t": "tanh_val", "x": "inp", "slope": "sl",
    "negative": "neg_part", "deriv": "d", "neg": "below", "dW": "gw", "db": "gb", "dx": "gx",
    "shifted": "z", "log_norm": "lse", "logp": "log_probs", "p": "prob", "total": "gsum",
    "mask": "drop", "mu": "mean_", "sigma2": "var_", "m": "mom", "std": "sd", "xn": "x_norm",
    "n": "count", "dgamma": "g_gamma", "dbeta": "g_beta", "dxn": "g_xn", "k": "ksize",
    "half": "h", "xpad": "x_padded", "j": "jj", "dk": "gk", "dpad": "g_pad", "batch": "bs",
    "pieces": "parts", "offset": "start", "loss": "L", "g": "up", "collected": "grads",
    "gp": "pg", "old": "saved_modes", "mode": "state", "v": "vel", "it": "step",
    "result": "onehot", "label": "lab", "net": "model", "acc_tr": "train_accuracy",
    "acc_te": "test_accuracy", "steps": "xs", "build": "make_net", "depth": "n_dense",
    "layers": "stack", "width": "w_in", "d": "dd", "run": "seed_", "i": "row",
}


def reorder(code: str) -> str:
    """layers.py with its top-level definitions in another order and every class's methods
    reversed (forward after backward)."""
    tree = ast.parse(code)
    lines = code.splitlines()
    body = tree.body
    first = next(i for i, node in enumerate(body) if isinstance(node, (ast.ClassDef, ast.FunctionDef)))
    head = lines[: _start(body[first]) - 1]
    blocks = []
    for node in body[first:]:
        text = lines[_start(node) - 1: node.end_lineno]
        if isinstance(node, ast.ClassDef):
            text = _reverse_methods(node, lines)
        blocks.append("\n".join(text))
    order = list(range(len(blocks)))
    order = order[len(order) // 2:][::-1] + order[: len(order) // 2]
    return "\n".join(head) + "\n\n\n" + "\n\n\n".join(blocks[i] for i in order) + "\n"


def _start(node) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _reverse_methods(node: ast.ClassDef, lines: list[str]) -> list[str]:
    methods = [n for n in node.body if isinstance(n, ast.FunctionDef)]
    if len(methods) < 2:
        return lines[_start(node) - 1: node.end_lineno]
    keep = lines[_start(node) - 1: _start(methods[0]) - 1]
    chunks = ["\n".join(lines[_start(m) - 1: m.end_lineno]) for m in methods]
    return keep + "\n\n".join(chunks[::-1]).splitlines()


def recomment(code: str) -> str:
    """Comments removed or rewritten, blank lines added, two-space indentation, spaces changed
    around operators: the same tokens in another layout."""
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    kept = [tok for tok in tokens if tok.type != tokenize.COMMENT]
    code = tokenize.untokenize(kept)
    out = []
    for line in code.splitlines():
        stripped = line.lstrip(" ")
        depth = (len(line) - len(stripped)) // 4
        indent = "  " * depth + " " * ((len(line) - len(stripped)) % 4)
        if stripped.startswith("return "):
            out.append(indent + "# the result")
        if stripped.startswith(("for ", "if ")):
            out.append("")
            out.append(indent + f"# step {len(out)}")
        stripped = re.sub(r"(?<=\w) = (?=\w)", "=", stripped) if "(" not in stripped else stripped
        out.append(indent + stripped if stripped else "")
    return "\n".join(out) + "\n"


def move_cells(answers: dict) -> dict:
    """Notebook answers moved between cells: `encode` is written in the create_network cell and
    `create_network` in the encode cell; the depth experiment's helper moves to plot_curves."""
    moved = dict(answers)
    enc, net = answers["encode_solution"], answers["create_network_solution"]
    moved["encode_solution"] = lambda src: _whole("def create_network():", net)
    moved["create_network_solution"] = lambda src: _whole("def encode(labels):", enc)
    helper, loop = answers["depth_experiment"].split("\n\n\n", 1)
    moved["plot_curves"] = answers["plot_curves"] + "\n\n" + helper
    moved["depth_experiment"] = loop
    return moved


def _whole(signature, body):
    return signature + "\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"


# ---------------------------------------------------------------------------------------------
# The class

HONEST = ["reference", "A", "B", "C", "D", "E", "F", "G", "untouched"]
COPIES = ["A_renamed", "A_reordered", "A_recommented", "A_moved", "A_all"]
WEB = "web"


def build(course_root: Path, against: Path) -> dict:
    """Write the class into <course_root>/submitted and the outside solution into `against`.

    Returns {"honest": [...], "copies": [...], "web": "web", "outside": source name}."""
    release_dir = course_root / "release" / A3.id
    release_nb = released_notebook(release_dir)
    submitted = course_root / "submitted"
    by_author = authors()

    def folder(student):
        return submitted / student / A3.id

    # the reference, as the demo's `correct` sample
    from grader import demo
    demo.build_sample("correct", A3, release_dir, folder("reference"))
    demo.build_sample("untouched_release", A3, release_dir, folder("untouched"))
    for name in "ABCDEFG":
        regions, cells = by_author[name]
        text = layers_text(regions)
        if name == "C":     # the demo's syntax error, in C's file
            text = text.replace("class Dense(Layer):", "class Dense(Layer)")
        write(folder(name), text, None if name == "E" else notebook_with(release_nb, cells))

    regions, cells = by_author["A"]
    original = layers_text(regions)
    cell_answers = {k: textwrap.dedent(v) for k, v in cells.items()}
    renamed_cells = {k: rename(textwrap.dedent(v).strip("\n"), RENAMES) for k, v in cells.items()}
    write(folder("A_renamed"), rename(original, RENAMES), notebook_with(release_nb, renamed_cells))
    write(folder("A_reordered"), reorder(original), notebook_with(release_nb, cell_answers))
    write(folder("A_recommented"), recomment(original),
          notebook_with(release_nb, {k: recomment(v) for k, v in cell_answers.items()}))
    write(folder("A_moved"), original, notebook_with(release_nb, move_cells(cell_answers)))
    write(folder("A_all"), recomment(reorder(rename(original, RENAMES))),
          notebook_with(release_nb, move_cells({k: recomment(v) for k, v in renamed_cells.items()})))

    outside = layers_text(OUTSIDE)
    against.mkdir(parents=True, exist_ok=True)
    (against / "nn_from_scratch").mkdir(exist_ok=True)
    (against / "nn_from_scratch" / "layers.py").write_text(outside)
    web_names = {"cache_in": "saved_x", "cache_out": "saved_y", "upstream": "g", "local": "dlocal",
                 "grad_w": "dW", "grad_b": "db", "grad_x": "dX", "cursor": "idx",
                 "activation": "h", "stack": "collected", "speed": "vel", "params": "theta"}
    write(folder(WEB), recomment(rename(outside, web_names)), notebook_with(release_nb, WEB_CELLS))
    return {"honest": HONEST, "copies": COPIES, "web": WEB, "outside": "nn_from_scratch"}
