"""The hostile-submission corpus: submissions that try to crash, stall, fool or escape the
grader, each with the score it must get and why (tests/test_hostile.py grades them)."""
