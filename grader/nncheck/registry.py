"""One registry per assignment: check id -> (task, check). The id is the test cell's grade_id.

    check.run("dense_grad_params", globals())        # a visible test line
    hidden.run("dense_grad_params", globals())       # the hidden block: run(..., hidden=True)

While nbgrader autogrades (it sets NBGRADER_EXECUTION=autograde) a visible line only reports:
the hidden block after it decides, with the reference and harder cases, so a public check that
cannot isolate its piece (it has only the student's own helpers) never costs a point that the
hidden test would not take.
"""
from __future__ import annotations

import importlib
import os
import re
import warnings

import numpy as np

from . import cells
from .results import guarded

SETUP_IMPORT = re.compile(r"from\s+nncheck\s+import\s+(\w+)\s+as\s+check")


def module_name(notebook: dict) -> str | None:
    """'a3', from the notebook's setup cell `from nncheck import a3 as check`."""
    for cell in notebook.get("cells", []):
        found = SETUP_IMPORT.search(cells.source(cell))
        if found:
            return found.group(1)
    return None


def checks_module(assignment: str, notebook: dict | None = None, package: str | None = None):
    """The check registry of an assignment, the module `package`.aN: aN as the notebook's setup
    cell imports it, else the assignment id's prefix (a3_neural_network and a3 both name a3).
    `package` is this one, the public checks; the grader names the package of its hidden
    tests, whose modules are named alike."""
    name = (module_name(notebook) if notebook else None) or assignment.split("_", 1)[0]
    return importlib.import_module(f"{package or __package__}.{name}")


class Registry:
    def __init__(self, checks: dict, cases: dict | None = None, depends: dict | None = None,
                 public_depends: dict | None = None):
        self.checks = checks            # id -> (task, check(namespace, reference, cases))
        self.cases = cases or {}        # id -> public cases, which hidden tests extend
        # id -> the checks whose code it runs: when it fails and one of those fails too, the
        # message says that one is the cause (`public_depends`: only without the reference,
        # whose parts isolate the check in the hidden tests)
        self.depends = depends or {}
        self.public_depends = public_depends or {}

    def evaluate(self, check_id, namespace, reference=None, cases=None, causes=True,
                 cases_for=None):
        """The CheckResult of one check; never raises for anything the student's code does.

        `cases_for(id)` gives the cases of the checks a failure looks at for its cause (the
        hidden tests': theirs). Warnings are silenced: nbgrader zeroes a test cell that writes
        to stderr."""
        task, check = self.checks[check_id]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = guarded(check_id, 0.0, lambda: check(namespace, reference, cases))
        result.name = check_id
        result.details.setdefault("task", task)
        if causes and not result.passed and not result.stopped:
            self._blame(check_id, result, namespace, reference, cases_for)
        return result

    def _blame(self, check_id, result, namespace, reference, cases_for=None):
        """Name the failing checks this one depends on, first: they are the cause."""
        deps = list(self.depends.get(check_id, ()))
        if reference is None:
            deps += self.public_depends.get(check_id, ())
        failing = [d for d in deps if not self.evaluate(
            d, namespace, reference, cases_for(d) if cases_for else None, causes=False).passed]
        if not failing:
            return
        result.details["caused_by"] = failing
        named = [f"{self.checks[d][0]} (check {d})" for d in failing]
        listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        it = "it" if len(named) == 1 else "them"
        fails = "fails" if len(named) == 1 else "fail"
        checks = "its own check" if len(named) == 1 else "their own checks"
        result.message = (f"{check_id} depends on {listed}, which {fails} {checks}: fix {it} first. "
                          f"(What {check_id} saw: {result.message})")

    def run(self, check_id, namespace, reference=None, cases=None, quiet=False, hidden=False,
            cases_for=None):
        """Evaluate and print; raise AssertionError on failure, as a test cell must.

        A failure is raised, not printed as well: the cell shows its message once. Returns
        None: nbgrader would read a returned value as a partial score."""
        result = self.evaluate(check_id, namespace, reference, cases, cases_for=cases_for)
        advisory = not hidden and os.environ.get("NBGRADER_EXECUTION") == "autograde"
        if advisory:
            if not quiet:
                print(f"{result} (advisory: the hidden tests decide)" if not result else result)
            return
        if result and not quiet:
            print(result)
            if result.details.get("integrity"):
                print(f"  note: {result.details['integrity']}")
        result.require()

    def evaluate_all(self, namespace, reference=None):
        return [self.evaluate(check_id, namespace, reference) for check_id in self.checks]

    def bind(self, module_globals):
        """Expose CHECKS, CASES, evaluate, run and evaluate_all as module-level names."""
        module_globals.update(CHECKS=self.checks, CASES=self.cases, evaluate=self.evaluate,
                              run=self.run, evaluate_all=self.evaluate_all,
                              DEPENDS=self.depends, PUBLIC_DEPENDS=self.public_depends)
