"""`grader release | autograde | demo`: thin commands over one module each.

Exit codes: 0 success; 1 the work ran but a result is wrong (a release leaks, a submission could
not be graded, the demo scored unexpectedly); 2 bad usage.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import course

DEFAULT_COURSE = course.BUILD / "course"


def _release(args):
    from .release import ReleaseError, release
    try:
        release(args.course_dir, args.assignments or None, out=args.out)
    except ReleaseError as error:
        print(f"grader release: {error}", file=sys.stderr)
        return 1
    return 0


def _autograde(args):
    from .autograde import autograde, table
    started = time.perf_counter()
    outcomes = autograde(args.course_dir, args.assignments or None, args.student or None)
    print(table(outcomes))
    print(f"\n{len(outcomes)} submissions in {time.perf_counter() - started:.1f} s")
    return 1 if any(o.status.startswith("zero: nbgrader") for o in outcomes) else 0


def _demo(args):
    from .demo import demo
    started = time.perf_counter()
    code = demo(args.course_dir)
    print(f"total time {time.perf_counter() - started:.1f} s")
    return code


def parser():
    p = argparse.ArgumentParser(prog="grader", description="Release and autograde the course.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", help="build student bundles (notebook, stubs, public checks)")
    r.add_argument("assignments", nargs="*", help=f"default: all ({', '.join(course.ASSIGNMENTS)})")
    r.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE)
    r.add_argument("--out", type=Path, help="also copy the bundles here")
    r.set_defaults(run=_release)

    a = sub.add_parser("autograde", help="grade <course-dir>/submitted/<student>/<assignment>")
    a.add_argument("assignments", nargs="*")
    a.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE)
    a.add_argument("--student", action="append", help="only this student (repeatable)")
    a.set_defaults(run=_autograde)

    d = sub.add_parser("demo", help="release, grade a demo class end to end, print the table")
    d.add_argument("--course-dir", type=Path, default=course.BUILD / "demo")
    d.set_defaults(run=_demo)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
