"""What rebuilding a submission found: a kind per deviation, and whether it is suspicious."""
from __future__ import annotations

from dataclasses import dataclass

#: Every kind of finding -> whether a finding of that kind is suspicious (it cannot happen by
#: accident). None: it depends on the case, and the rule that finds it says.
KINDS = {
    "missing_notebook": False,      # no notebook with the assignment's cells: nothing to grade
    "renamed_notebook": False,      # graded the notebook found under another name
    "corrupt_json": False,          # not valid JSON: recovered, or (fatal) nothing to grade
    "not_a_notebook": None,         # valid JSON but not a notebook: nothing to grade; or a link
                                    # to a file outside the submission (suspicious)
    "repaired_notebook": False,     # old nbformat, malformed cells: repaired
    "deleted_test_cell": False,     # restored from the release
    "deleted_locked_cell": False,   # a read-only non-test cell (setup, demo): restored
    "deleted_solution_cell": False,  # the release stub is graded in its place
    "edited_test_cell": True,       # source restored from the release
    "edited_locked_cell": False,    # read-only non-test cell: source restored
    "edited_points": True,          # points restored
    "edited_metadata": True,        # other grading metadata (grade/solution/locked/...) restored
    "duplicated_cell": None,        # extra copies dropped; suspicious for a test cell
    "unknown_metadata": None,       # nbgrader metadata the release did not give; suspicious if
                                    # it claims a test cell (then treated as a duplicate)
    "reordered_cells": False,       # graded at the release's place
    "changed_cell_type": False,     # code <-> markdown: an answer's source is kept, a locked
                                    # cell is restored
    "edited_text_cell": False,      # an instructions cell was edited: the release text is used
    "linked_submission": True,      # the submission folder is a link (to a classmate's work)
}


@dataclass(frozen=True)
class Finding:
    kind: str          # one of KINDS
    cell: str | None   # grade_id concerned, if any
    message: str       # one sentence for instructor and student: what was found, what was done
    suspicious: bool   # True only where it can only be deliberate tampering


def finding(kind: str, message: str, cell: str | None = None,
            suspicious: bool = False) -> Finding:
    """A finding of `kind`; `suspicious` counts only for the kinds where KINDS leaves it open."""
    fixed = KINDS[kind]
    return Finding(kind, cell, message, suspicious if fixed is None else fixed)
