#!/usr/bin/env python3
"""Self-check for __ASSIGNMENT__: runs the public checks on your code and says what to fix.

    python check.py                      # every check of the notebook's test cells
    python check.py relu dense_forward   # only these checks
    python check.py --list               # the check ids
    python check.py --skip-training      # leave out the slow training check

It runs the code cells of your notebook (the ones you write and the given ones; never the test
cells or the cells graded by hand), then every public check. Inside the notebook the same
report is `from nncheck.selfcheck import report; report(globals())`.
Exit code: 0 every check passes, 1 something to fix, 2 the notebook or a check id is not found.
"""
import os
import sys

ASSIGNMENT = "__ASSIGNMENT__"

if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")        # plots are drawn off screen
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)                          # nncheck/ and your modules, from here
    os.chdir(here)
    from nncheck import selfcheck

    sys.exit(selfcheck.main(ASSIGNMENT, sys.argv[1:], folder=here))
