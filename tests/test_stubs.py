"""Stubs are generated from the fenced source: same interface, no solution, clear errors."""
import ast

import pytest

from grader import stubs
from grader.stubs import FenceError

from .conftest import LAYERS_SOURCE, layers_module


def _interface(source):
    """(qualname, argument names, docstring) of every class and function."""
    out = []

    def visit(node, prefix=""):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                args = [a.arg for a in child.args.args] if isinstance(child, ast.FunctionDef) else []
                out.append((prefix + child.name, args, ast.get_docstring(child)))
                visit(child, prefix + child.name + ".")
    visit(ast.parse(source))
    return out


def test_stub_keeps_signatures_and_docstrings():
    stub = stubs.make_stub(LAYERS_SOURCE)
    assert _interface(stub) == _interface(LAYERS_SOURCE)


def test_stub_contains_no_solution_line():
    stub = stubs.make_stub(LAYERS_SOURCE)
    lines = {line.strip() for line in stub.splitlines()}
    secret = stubs.secret_lines(LAYERS_SOURCE)
    assert len(secret) > 50
    assert not secret & lines
    assert stubs.BEGIN not in stub and stubs.END not in stub


def test_every_region_raises_not_implemented_naming_its_task():
    module = layers_module(default=stubs.STUB_BODY)
    layer = module.Dense(3, 2)
    with pytest.raises(NotImplementedError, match="Dense.forward is not implemented yet"):
        layer.forward(None)
    with pytest.raises(NotImplementedError, match="grad_crossentropy is not implemented yet"):
        module.grad_crossentropy(None, None)
    names = [name for name, _, _ in stubs.regions(LAYERS_SOURCE)]
    assert names.count("Dense.backward") == 1 and len(names) == len(set(names))
    assert stubs.make_stub(LAYERS_SOURCE).count("raise NotImplementedError(") == len(names)


def test_reference_is_the_source_without_fences():
    ref = stubs.make_reference(LAYERS_SOURCE)
    assert stubs.BEGIN not in ref
    assert [l for l in LAYERS_SOURCE.splitlines() if l.strip() not in (stubs.BEGIN, stubs.END)] \
        == ref.splitlines()


@pytest.mark.parametrize("source, message", [
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
     "inside another"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "without"),
    ("def f():\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION\n"
     "    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n", "more than one"),
])
def test_malformed_fences_are_refused(source, message):
    with pytest.raises(FenceError, match=message):
        stubs.make_stub(source)


def test_fill_refuses_unknown_task():
    with pytest.raises(FenceError, match="no solution region named"):
        stubs.fill(LAYERS_SOURCE, {"Dense.backwards": "pass"})
