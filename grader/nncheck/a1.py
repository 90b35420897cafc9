"""Assignment 1's checks, by id: the one vocabulary of the notebook's test cells (the id is the
cell's nbgrader grade_id), the student self-check and the grader.

    from nncheck import a1 as check
    check.run("grad_trace_AB", globals())    # prints PASS, or raises with the cause

There is no reference implementation: every derivative is compared with the numerical gradient
of the function it differentiates, and the factorization is judged by the loss the check
computes itself. The hidden tests run the same ids on more cases (other seeds and shapes).
"""
from __future__ import annotations

from . import calculus as C
from .registry import Registry


def _derivative(check_id):
    task = C.TASKS[check_id]
    return lambda ns, ref=None, cases=None: C.check_derivative(task, ns, cases)


# id -> (task, check(namespace, reference, cases=None)); in notebook order
CHECKS = {
    **{check_id: (task.fn, _derivative(check_id)) for check_id, task in C.TASKS.items()},
    "factorize": ("factorize", lambda ns, ref=None, cases=None: C.check_factorize(ns, cases)),
}

# id -> the public cases ((seed, dims), ...), which the hidden tests extend
CASES = {**{check_id: task.cases for check_id, task in C.TASKS.items()},
         "factorize": C.check_factorize.cases}


# factorize runs the student's own gradients: when one fails, it is the cause
DEPENDS = {"factorize": ("factorization_grad_A", "factorization_grad_S")}


Registry(CHECKS, CASES, DEPENDS).bind(globals())
