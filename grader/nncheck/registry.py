"""One registry per assignment: check id -> (task, check). The id is the test cell's grade_id.

    check.run("dense_grad_params", globals())        # a visible test line
    hidden.run("dense_grad_params", globals())       # the hidden block: run(..., hidden=True)

While nbgrader autogrades (it sets NBGRADER_EXECUTION=autograde) a visible line only reports:
the hidden block after it decides, with the reference and harder cases, so a public check that
cannot isolate its piece (it has only the student's own helpers) never costs a point that the
hidden test would not take.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from .results import guarded


class Registry:
    def __init__(self, checks: dict, cases: dict | None = None):
        self.checks = checks            # id -> (task, check(namespace, reference, cases))
        self.cases = cases or {}        # id -> public cases, which hidden tests extend

    def evaluate(self, check_id, namespace, reference=None, cases=None):
        """The CheckResult of one check; never raises for anything the student's code does.

        Warnings are silenced: nbgrader zeroes a test cell that writes to stderr."""
        task, check = self.checks[check_id]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = guarded(check_id, 0.0, lambda: check(namespace, reference, cases))
        result.name = check_id
        result.details.setdefault("task", task)
        return result

    def run(self, check_id, namespace, reference=None, cases=None, quiet=False, hidden=False):
        """Evaluate and print; raise AssertionError on failure, as a test cell must.

        Returns None: nbgrader would read a returned value as a partial score."""
        result = self.evaluate(check_id, namespace, reference, cases)
        advisory = not hidden and os.environ.get("NBGRADER_EXECUTION") == "autograde"
        if not quiet:
            print(f"{result} (advisory: the hidden tests decide)" if advisory and not result
                  else result)
        if not advisory:
            result.require()

    def evaluate_all(self, namespace, reference=None):
        return [self.evaluate(check_id, namespace, reference) for check_id in self.checks]

    def bind(self, module_globals):
        """Expose CHECKS, CASES, evaluate, run and evaluate_all as module-level names."""
        module_globals.update(CHECKS=self.checks, CASES=self.cases, evaluate=self.evaluate,
                              run=self.run, evaluate_all=self.evaluate_all)
