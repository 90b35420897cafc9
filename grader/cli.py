"""`grader <verb>`: each verb is one module with `add_arguments(parser)` and `run(args) -> int`.

Exit codes: 0 success; 1 the work ran but a result is wrong (a release leaks, a submission was
recorded as zero or could not be graded, the demo scored unexpectedly); 2 bad usage (an unknown
assignment, student or course directory, nothing to do): one line on stderr, nothing created.
"""
from __future__ import annotations

import argparse
import importlib
import sys

VERBS = {
    "release": "build student bundles (notebook, stubs, public checks)",
    "autograde": "grade <course-dir>/submitted/<student>/<assignment>",
    "feedback": "per-student HTML feedback from the graded submissions",
    "report": "one HTML class report per assignment",
    "similarity": "which submissions share unusual code (for the staff)",
    "export": "the gradebook's grades: plain CSV, Canvas, Moodle or Gradescope results",
    "demo": "release, grade a demo class end to end, print the table",
    "doctor": "which isolation this machine gives the clean room, and what is missing",
}


def parser():
    p = argparse.ArgumentParser(prog="grader", description="Release and autograde the course.")
    sub = p.add_subparsers(dest="command", required=True)
    for verb, help_text in VERBS.items():
        module = importlib.import_module(f"grader.{verb}")
        verb_parser = sub.add_parser(verb, help=help_text, description=module.__doc__)
        module.add_arguments(verb_parser)
        verb_parser.set_defaults(run=module.run)
    return p


def main(argv=None):
    from .course import UsageError
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as error:
        print(f"grader {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
