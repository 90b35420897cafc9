"""Grade some hostile cases by hand and print what happened (not a test):

    .venv/bin/python -m tests.hostile.explore [--root DIR] [--jobs N] [CASE ...]
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from grader import autograde as grading, release

from .cases import CASES, build_case, budget_for_tests, notebook_text, outcome_text
from .leftovers import clean


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--root", type=Path, default=Path("/srv/hostile-explore/course"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--show", type=int, default=0, help="print this many characters of the notebook's outputs")
    args = parser.parse_args()
    template = args.root.parent / "template"
    if not (template / "gradebook.db").exists():
        template.parent.mkdir(parents=True, exist_ok=True)
        release.release(template)
    root = args.root
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(template, root)
    chosen = [c for c in CASES if not args.names or c.name in args.names]
    for case in chosen:
        build_case(case, root)
    started = time.perf_counter()
    clean(root.parent.name)
    outcomes = grading.autograde(root, sorted({c.assignment for c in chosen}),
                                 jobs=args.jobs, force=True,
                                 progress=False, budget=budget_for_tests())
    print(f"graded {len(chosen)} in {time.perf_counter() - started:.1f} s")
    by = {(o.assignment, o.student): o for o in outcomes}
    for case in chosen:
        o = by.get((case.assignment, case.name))
        if o is None:
            continue
        text = notebook_text(root, case)
        problems = case.verify(root, o, text) if case.verify else []
        ok = (abs(o.total - case.total) < 1e-9 and (not case.reason or case.reason in outcome_text(o))
              and (not case.shows or case.shows in text) and not problems)
        print(f"\n### {case.name} [{case.assignment}] total {o.total:g}/{o.max_total:g} "
              f"expected {case.total:g} {'OK' if ok else 'MISMATCH'} ({o.seconds:.1f} s)")
        print("  status:", o.status)
        for e in o.events:
            print("  event:", e[:300])
        for f in o.flags:
            print("  flag:", f[:300])
        for p in problems:
            print("  PROBLEM:", p[:300])
        if case.shows and case.shows not in text:
            print("  NOT SHOWN:", case.shows)
        if args.show:
            print(text[:args.show])
        for k, m in o.messages.items():
            print(f"  {k}: {m[:250]}")
            if o.hidden.get(k) and o.hidden[k] != m:
                print(f"    hidden: {o.hidden[k][:250]}")
    clean(root.parent.name)        # processes and files the student code left behind


if __name__ == "__main__":
    main()
