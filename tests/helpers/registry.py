"""What the checks' tests of assignments 1 and 2 ask of a registry of checks (grader.nncheck.aN,
whose checks take cases) and of its hidden test's cases (grader.hidden.aN.EXTRA).

    hidden_cases = functools.partial(registry.hidden_cases, a1, hidden)
    test_correct_answers_pass = registry.correct_answers_pass(a1, hidden, namespace)
"""
import pytest


def hidden_cases(module, hidden, check_id):
    """The check's public cases and the hidden test's."""
    return tuple(module.CASES[check_id]) + hidden.EXTRA[check_id]


def evaluate(module, hidden, check_id, ns, hidden_tests):
    """The check's result on `ns`: on its public cases, or on the hidden test's too."""
    cases = hidden_cases(module, hidden, check_id) if hidden_tests else None
    return module.evaluate(check_id, ns, cases=cases)


def failing(module, hidden, ns, ids, hidden_tests):
    """The checks of `ids` that fail on `ns`."""
    return {check_id for check_id in ids
            if not evaluate(module, hidden, check_id, ns, hidden_tests).passed}


def correct_answers_pass(module, hidden, namespace):
    """The test that every check passes on the correct answers (`namespace()`), with the
    public cases and with the hidden test's."""

    @pytest.mark.parametrize("hidden_tests", [False, True], ids=["public", "hidden"])
    @pytest.mark.parametrize("check_id", list(module.CHECKS))
    def test_correct_answers_pass(check_id, hidden_tests):
        result = evaluate(module, hidden, check_id, namespace(), hidden_tests)
        assert result.passed, str(result)

    return test_correct_answers_pass
