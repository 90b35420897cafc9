"""What every assignment's mutation tests assert, for assignments 1 and 2 (whose checks take
hidden cases rather than a reference): the message names the mistake, every mutant has its
hint and every check a mutant, and check.py's estimate is autograde's score.

    test_a, test_b, test_c = mutation.tests(a1, MUTANTS, NEEDLES, namespace, failing,
                                            hidden_cases, reachable, "a1_matrix_calculus")
"""
import pytest


def tests(module, mutants, needles, namespace, failing, hidden_cases, reachable, assignment_id):
    """The three tests, bound to one assignment. `reachable(overrides)` gives the check ids
    worth running for a mutant (the slow ones only where it can reach them)."""

    @pytest.mark.parametrize("mutant", list(mutants))
    def test_mutant_message_names_the_mistake(mutant):
        overrides, expected, *_ = mutants[mutant]
        ns = namespace(**overrides)
        messages = " | ".join(
            r.message for check_id in expected
            for r in (module.evaluate(check_id, ns),
                      module.evaluate(check_id, ns, cases=hidden_cases(check_id)))
            if not r.passed)
        assert needles[mutant] in messages, messages

    def test_every_mutant_has_its_hint_and_every_check_a_mutant():
        assert set(needles) == set(mutants)
        caught = set().union(*(expected for _, expected, *_ in mutants.values()))
        assert caught == set(module.CHECKS)

    @pytest.mark.parametrize("mutant", list(mutants))
    def test_check_py_estimate_is_the_autograde_score(mutant):
        """check.py's estimate (points of the public checks that pass) is autograde's score
        (points of the hidden checks that pass), except for the checks only the hidden cases
        catch, which it overestimates by exactly their points."""
        from grader import course, notebooks
        from grader.nncheck import cells
        a = course.get(assignment_id)
        points = cells.test_points(notebooks.load(a.source_dir / a.notebook))
        overrides, expected, *public = mutants[mutant]
        ids = reachable(overrides)
        ns = namespace(**overrides)
        estimate = sum(points[c] for c in ids if c not in failing(ns, ids, hidden_tests=False))
        score = sum(points[c] for c in ids if c not in failing(ns, ids, hidden_tests=True))
        hidden_only = expected - (public[0] if public else expected)
        assert estimate - score == sum(points[c] for c in hidden_only)

    return (test_mutant_message_names_the_mistake,
            test_every_mutant_has_its_hint_and_every_check_a_mutant,
            test_check_py_estimate_is_the_autograde_score)
