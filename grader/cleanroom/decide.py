"""Deciding the autograded checks, in the grader's own process: the hidden check (with the
reference) gives the score, and the message a student may read is chosen here -- the public
check's when it fails too, where their code raised or what kind of case failed when only the
hidden one does, never a hidden value.
"""
from __future__ import annotations

from ..nncheck import cells
from ..sandbox.endpoint import Died, Timeout


class Watched:
    """The student's namespace as a check sees it, noting each name asked for and missing."""

    def __init__(self, namespace):
        self._namespace, self.missing = namespace, []

    def __contains__(self, name):
        found = name in self._namespace
        if not found and name not in self.missing:
            self.missing.append(name)
        return found

    def __getitem__(self, name):
        if name not in self:
            raise KeyError(name)
        return self._namespace[name]

    def get(self, name, default=None):
        return self[name] if name in self else default

    def __getattr__(self, attribute):
        return getattr(self._namespace, attribute)


def hidden_only(check_id, result):
    """What a student may read about a hidden test that failed where the public check passes:
    where their code raised, or which kind of case failed (shapes, never the values)."""
    raised, case = result.details.get("raised"), result.details.get("case")
    if raised:
        where = f" at {raised['where']}" if raised.get("where") else ""
        return (f"{check_id}: the hidden test (it runs more inputs than the public check) "
                f"stopped with {raised['type']} raised{where}"
                + (f", for {case}" if case else "")
                + "; the public check passes, so run your code on other inputs (other shapes, "
                  "a batch of one row) to find why")
    if case:
        return (f"{check_id}: the hidden test failed for {case}, a case the public check does "
                "not run; test your code on such inputs against the definition")
    return (f"{check_id}: the hidden test failed (it compares with the reference "
            "implementation on more inputs); the public check passes, so test your code "
            "on other inputs against the definition")


class Decisions:
    """Every autograded check of one submission, into `graded`."""

    def __init__(self, grader, graded, run, broken):
        self.hidden, self.public = grader.hidden, grader.public
        self.graded, self.run, self.broken = graded, run, broken

    def all(self, tests: dict):
        for check_id, points in tests.items():
            if self.run.over:
                self.graded.scores[check_id] = (0.0, points)
                self.graded.public[check_id] = "not run: the submission used up its time budget"
                continue
            self.check(self.run.alive(), check_id, points)

    def check(self, session, check_id, points):
        graded = self.graded
        session.endpoint.default_timeout = self.run.check_budget(check_id)
        interrupts = session.interrupts
        try:
            namespace = Watched(session.namespace())
            result = self.hidden.evaluate(check_id, namespace)
        except (Timeout, Died) as error:
            graded.scores[check_id] = (0.0, points)
            graded.public[check_id] = graded.hidden[check_id] = \
                f"{check_id}: {error.student_message}"
            graded.events.append(f"{check_id}: {error.student_message}")
            return
        graded.scores[check_id] = (points if result.passed else 0.0, points)
        self._integrity(check_id, result)
        if result.passed:
            return
        graded.hidden[check_id] = result.message
        graded.public[check_id] = self._message(session, check_id, result, namespace,
                                                session.interrupts > interrupts)

    def _integrity(self, check_id, result):
        """The course decides what it costs (grader.hidden.a3.NUMERICAL_BACKWARD); it is never
        silent: the record, the report and the autograded notebook say it."""
        evidence = result.details.get("integrity")
        if evidence:
            self.graded.flags.append(f"integrity: {check_id}: {evidence}")
            self.graded.integrity[check_id] = evidence

    def _message(self, session, check_id, result, namespace, interrupted):
        """What the student reads about a failed check."""
        cause = next(((u, name) for name in namespace.missing for u in self.broken
                      if name in u.lost), None)
        if cause is not None:
            self.graded.hidden[check_id] = cause[0].cause(check_id, cause[1])
            return self.graded.hidden[check_id]
        if result.stopped or not session.alive or interrupted:
            # the student's code crashed or hung inside the check: that, not a comparison with
            # the reference, is the reason, and saying so reveals nothing
            self.graded.events.append(f"{check_id}: {result.message}")
            return result.message
        public = self._public(session, check_id)
        if self.graded.in_kernel.get(check_id) and public is not None and not public.passed:
            self.graded.flags.append(f"possibly tampered: {check_id} passed inside the notebook "
                                     "but fails the same public check run outside it")
        return public.message if public is not None and not public.passed \
            else hidden_only(check_id, result)

    def _public(self, session, check_id):
        if not session.alive:
            return None
        try:
            return self.public.evaluate(check_id, session.namespace())
        except (Timeout, Died):
            return None


def annotate(nb, graded):
    """Test cells show the clean-room verdict (student-safe message), as nbgrader would."""
    for cell in nb["cells"]:
        if not cells.is_test(cell):
            continue
        check_id = cells.meta(cell)["grade_id"]
        score, maximum = graded.scores.get(check_id, (0.0, 0.0))
        outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
        if check_id in graded.integrity:        # for the staff who read this notebook
            outputs.append({"output_type": "stream", "name": "stdout",
                            "text": f"[integrity flag for the instructor] "
                                    f"{graded.integrity[check_id]}\n"})
        if score < maximum:
            outputs.append({"output_type": "error", "ename": "CheckFailed",
                            "evalue": graded.public.get(check_id, ""), "traceback": []})
        cell["outputs"] = outputs
