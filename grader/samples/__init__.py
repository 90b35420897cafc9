"""Sample submissions for the demo class and the end-to-end tests.

Each assignment's module defines:
  BUGGY_CELLS   -- {solution cell grade_id: code} replacing the notebook's solution
  BUGGY_MODULES -- {released module filename: {task name: body}} replacing fenced regions
  BUGGY_LOSES   -- the check ids (test-cell grade_ids) the buggy sample must fail, and no others
  SYNTAX_KEEPS  -- (optional) check ids the syntax-error sample still passes: its broken module
                   does not touch them (assignment 3: `encode` lives in the notebook)
"""
import importlib


def for_assignment(assignment_id):
    short = assignment_id.split("_", 1)[0]
    return importlib.import_module(f"{__name__}.{short}")
