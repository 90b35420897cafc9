"""A submission with a syntax error: the SyntaxError, with its line, is said once per piece of
code that does not parse, as the cause -- not "X is not defined: run the cell ..." on every
check -- to the instructor (CLI, report) and the student (feedback, Gradescope)."""
import re

import pytest

from grader import course, export, feedback, records, report, summary
from grader.cleanroom import syntax

pytestmark = pytest.mark.slow

AIDS = [a.id for a in course.available()]
NOT_DEFINED = "is not defined: run the cell"


@pytest.mark.parametrize("assignment", AIDS)
def test_the_syntax_error_leads_once_and_no_check_blames_a_missing_name(graded, assignment):
    outcome = graded[1][(assignment, "syntax_error")]
    causes = [e for e in outcome.events if "does not parse" in e]
    assert causes and outcome.events[:len(causes)] == causes, "the cause comes first"
    for cause in causes:
        assert re.search(r"SyntaxError: .+ \(line \d+\)", cause), cause
    assert len(set(causes)) == len(causes), "each piece of code that does not parse, once"
    failed = {c: m for c, m in outcome.messages.items()}
    assert failed and not any(NOT_DEFINED in m for m in failed.values())
    for check, message in failed.items():
        assert "not tested" in message and "does not parse" in message, (check, message)
        assert "SyntaxError" not in message, "the error itself is said once, in the events"
    assert not any(e.startswith("the given cell") and ("is not defined" in e or
                                                        "SyntaxError" in e)
                   for e in outcome.events), "consequences of the syntax error are not repeated"


@pytest.mark.parametrize("assignment", ["a1_matrix_calculus", "a2_backprop"])
def test_student_and_instructor_pages_and_the_cli_lead_with_the_syntax_error(graded, tmp_path,
                                                                           assignment):
    root = graded[0]
    a = course.get(assignment)
    [record] = records.load(root, assignment, ["syntax_error"])
    page = feedback.render(record, a, feedback.tasks(a), {},
                           feedback.cell_errors(root, a, "syntax_error"))
    happened = page.split("<h2>What happened</h2>", 1)[1].split("</ul>", 1)[0]
    first = re.search(r"<li>(.*?)</li>", happened).group(1)
    assert "SyntaxError" in first and "(line " in first
    broken = len([e for e in record["events"] if "does not parse" in e])
    assert happened.count("SyntaxError") == broken, "once per cell that does not parse"
    assert NOT_DEFINED not in page

    recs = records.load(root, assignment)
    html = report.render(a, recs, feedback.tasks(a))
    assert NOT_DEFINED not in html and "SyntaxError" in html

    printed = summary.summary([records.Outcome.from_record(r) for r in recs], root, 1.0)
    line = next(s for s in printed.splitlines() if " syntax_error " in s)
    assert "SyntaxError" in line and "(line " in line

    results = export.gradescope_results(record, feedback.tasks(a))
    assert "SyntaxError" in results["tests"][0]["output"]
    assert NOT_DEFINED not in str(results)


def test_parsing_names_what_code_defines_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    source = (f"import os as o\nfrom x import y\nA = B = 1\nclass C: pass\n"
              f"def f():\n    open({str(marker)!r}, 'w')\n%load_ext autoreload\n")
    assert syntax.defined_names(source) == {"o", "y", "A", "B", "C", "f"}
    assert syntax.syntax_error(source) is None
    assert syntax.syntax_error("def f(:\n    pass") .startswith("SyntaxError: ")
    assert "(line 2)" in syntax.syntax_error("x = 1\nprint('a'")
    assert syntax.syntax_error("x = 1\n  y = 2", "m.py").startswith("IndentationError")
    assert not marker.exists()
