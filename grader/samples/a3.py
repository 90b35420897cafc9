"""Assignment 3's buggy sample: the seed-000 student's bugs, in the course's layer contract."""

SEED_000_BUGS = {
    # ones instead of grad_output summed over the batch
    "Dense.backward": """
        grad_weights = self.input.T @ grad_output
        grad_biases = np.ones(self.biases.shape[0])
        return grad_output @ self.weights.T, np.r_[grad_weights.ravel(), grad_biases]
    """,
    # the gradient w.r.t. the probabilities, not the log-probabilities
    "grad_crossentropy": """
        return np.where(target == 1, -1 / np.exp(activations), 0) / len(activations)
    """,
    # Dropout left unwritten
    "Dropout.forward": "pass",
    "Dropout.backward": "pass",
}

BUGGY_CELLS = {}
BUGGY_MODULES = {"layers.py": SEED_000_BUGS}
BUGGY_LOSES = {"dense_grad_params", "grad_crossentropy", "dropout_train", "dropout_eval",
               "training"}
# The notebook's own code, which a broken layers.py does not touch: encode, and Callback (checked
# on the checks' own layers and stand-in helpers, it needs nothing of layers.py).
SYNTAX_KEEPS = {"encode", "callback"}
