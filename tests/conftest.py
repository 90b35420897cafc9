import types
from pathlib import Path

import numpy as np
import pytest

from grader import stubs

ROOT = Path(__file__).resolve().parent.parent
LAYERS_SOURCE = (ROOT / "source_layers" / "layers.py").read_text()


def reference_body(task, *edits):
    """The reference's code of one fenced region ('Dense.backward'), dedented, with `edits`
    ((old, new), ...) applied: a mutant says exactly what it changes."""
    import textwrap
    lines = LAYERS_SOURCE.splitlines()
    for name, first, last in stubs.regions(LAYERS_SOURCE):
        if name == task:
            body = textwrap.dedent("\n".join(lines[first:last - 1]))
            for old, new in edits:
                assert old in body, (task, old)
                body = body.replace(old, new)
            return body
    raise KeyError(task)


def layers_module(bodies=None, default=None, name="layers"):
    """source_layers/layers.py with some solution regions replaced, as a fresh module."""
    module = types.ModuleType(name)
    code = stubs.fill(LAYERS_SOURCE, bodies or {}, default=default)
    exec(compile(code, f"{name}.py", "exec"), module.__dict__)
    return module


class Callback:
    """A correct notebook Callback (the notebook's own solution is checked end to end)."""

    def __init__(self, network, X_train, y_train, X_test, y_test, print=False):
        self.network, self.print = network, print
        self.data = (X_train, y_train.argmax(1)), (X_test, y_test.argmax(1))
        self.train_acc, self.test_acc = [], []

    def call(self, weights):
        from source_layers.layers import predict, set_weights
        set_weights(weights, self.network)
        for (X, y), store in zip(self.data, (self.train_acc, self.test_acc)):
            store.append(float(np.mean(predict(self.network, X) == y)))


def encode(labels):
    return np.eye(10)[labels]


def namespace(module):
    """What a student's notebook globals hold after `from layers import *` and their cells."""
    ns = dict(vars(module))
    ns.update(encode=encode, Callback=Callback)
    return ns


@pytest.fixture(scope="session")
def reference():
    from source_layers import layers
    return layers


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """The demo class, released and graded through nbgrader once per session (about a minute):
    (course root, {(assignment, student): Outcome}, unexpected outcomes, the log)."""
    from grader import demo
    root = tmp_path_factory.mktemp("demo") / "course"
    log = []
    outcomes, wrong = demo.grade_demo_class(root, log=log.append)
    return root, {(o.assignment, o.student): o for o in outcomes}, wrong, "\n".join(log)
