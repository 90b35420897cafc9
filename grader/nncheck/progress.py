"""What a student sees while check.py works: lines redrawn in place where that is possible, and
for the slow training check a bar over L-BFGS-B's iterations and the accuracy curves."""
from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import numpy as np

CURVES_FILE = "accuracy_curves.png"


def live(stream) -> bool:
    """Whether `\\r` redraws a line: a terminal, or a Jupyter output area."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


class ProgressBar:
    """A one-line text progress bar: `training [#######.............]  35% 140/400`.

    Redrawn in place on a terminal or in Jupyter; in a log (a pipe, CI) one line per tenth.
    Nothing is drawn before the first tick."""

    def __init__(self, total: int, stream, label: str = "", width: int = 30):
        self.total, self.stream, self.label, self.width = max(int(total), 1), stream, label, width
        self.count, self._shown, self._last = 0, -1, 0.0
        self.live = live(stream)

    def update(self, note: str = ""):
        self.count += 1
        share = min(self.count / self.total, 1.0)
        step = int(share * 100) if self.live else int(share * 10)
        now = time.monotonic()
        if step != self._shown and (not self.live or now - self._last > 0.1):
            self._shown, self._last = step, now
            filled = int(share * self.width)
            line = (f"  {self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                    f"{share:4.0%} {min(self.count, self.total)}/{self.total} {note}")
            self.stream.write(f"\r{line.ljust(79)}" if self.live else line + "\n")
            self.stream.flush()

    def close(self, note: str = ""):
        if not self.count:
            return
        line = f"  {self.label} done: {note}"
        self.stream.write((f"\r{line.ljust(79)}" if self.live else line) + "\n")
        self.stream.flush()


def _training_module():
    """The public training module (its accuracy, unflatten, data and hook), or None when this
    nncheck has none (no bar, no curves, then)."""
    try:
        from . import training
        return training if hasattr(training, "ON_ITERATION") else None
    except ImportError:
        return None


def run_training(module, namespace, stream, out_dir):
    """The training check with a progress bar that counts L-BFGS-B iterations (out of its
    maxiter) and the train/test accuracy after each, saved as a PNG. The check itself is the
    notebook's: compute_loss_grad is only wrapped, to see the network being trained."""
    fn = namespace.get("compute_loss_grad")
    training = _training_module()
    if not callable(fn) or training is None:
        return module.evaluate("training", namespace), None
    bar = ProgressBar(training.MAXITER, stream, "training")
    curves = {"train": [], "test": []}
    state = {"args": None, "test": None, "watch": True}

    def watched(weights, *args, **kwargs):
        state["args"] = args
        return fn(weights, *args, **kwargs)

    def on_iteration(weights):
        note = ""
        if state["watch"] and state["args"]:
            try:
                network, X_train, Y_train = state["args"][0]
                if state["test"] is None:
                    _, X_test, _, y_test = training.shuffled(training.digits())
                    state["test"] = (X_test, y_test)
                copied = copy.deepcopy(network)    # the network being trained is left alone
                training.unflatten(np.asarray(weights), copied)
                curves["train"].append(training.accuracy(copied, X_train, Y_train.argmax(1)))
                curves["test"].append(training.accuracy(copied, *state["test"]))
                note = f"test accuracy {curves['test'][-1]:.1%}"
            except Exception:   # a curve is a bonus: never let it change the check
                state["watch"] = False
        bar.update(note)

    watched.__name__ = getattr(fn, "__name__", "compute_loss_grad")
    hook = training.ON_ITERATION.set(on_iteration)
    try:
        result = module.evaluate("training", {**namespace, "compute_loss_grad": watched})
    finally:
        training.ON_ITERATION.reset(hook)
    if "iterations" in result.details:
        bar.close(f"{result.details['iterations']} iterations, test accuracy "
                  f"{result.details['accuracy']:.1%}")
    png = None
    if curves["test"]:
        try:
            png = _plot_curves(curves, training.THRESHOLD, Path(out_dir) / CURVES_FILE)
        except Exception as error:   # no matplotlib, read-only folder, ...
            stream.write(f"  (could not save the accuracy curves: {error})\n")
    return result, png


def _plot_curves(curves, threshold, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps = range(1, len(curves["test"]) + 1)
    ax.plot(steps, curves["train"], label="train accuracy")
    ax.plot(steps, curves["test"], label="test accuracy")
    if threshold is not None:
        ax.axhline(threshold, color="grey", linestyle="--", label=f"required ({threshold:.0%})")
    ax.set(xlabel="L-BFGS-B iteration", ylabel="accuracy on digits",
           ylim=(0, 1.01), title="Training check: your network on digits")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return path
