"""`grader similarity`: which submissions share code that the rest of the class does not.

    <out>/<assignment>-similarity.html   the most similar pairs, side by side, matches marked
    <out>/<assignment>-similarity.csv    every pair and its scores
    (default <course>/reports/, next to the class report, which links to the page)

For the instructor: nothing of it goes into feedback, the gradebook, a record or a release.

What is compared: per submission, the code the student wrote, that is the assignment's modules
(`layers.py`) and the code cells of the notebook as graded (`grader.structure.rebuild`: the
release's structure with the student's answers and added cells). The released starter code is
boilerplate and never counts. `--against FOLDER` adds known outside solutions (each file or
top-level folder in it is one source, `.py` and `.ipynb`) that every submission is compared
with.

How: copydetect (MOSS's winnowing: Pygments tokens with every name, string and comment folded
away, hashed k-grams) fingerprints each file and cell; renamed variables, changed comments and
layout leave the fingerprints as they were, and reordered functions or code moved between cells
only break the k-grams at the seams. Every k-gram is kept (a winnowing window of 1: classes are
small, and Python salts its string hashes per process, so a wider window would pick different
fingerprints, and give different scores, on every run). Then each shared fingerprint is weighed
by how rare it is in the class: weight log(N / df) / log(N / 2), at most 1, for a fingerprint
that df of the N documents hold -- 1 when only the pair holds it, 0 when everyone does -- so the
simple solutions that the whole class writes alike (`np.maximum(input, 0)`) add little and a
copied idiosyncrasy adds fully. A pair's score is the weighted count of the fingerprints it
shares, over the mean of the two submissions' fingerprint counts: the share of their code that
they, and few others, have in common (1.0: the same code, which nobody else wrote).

Submissions and outside sources are untrusted: a file that is a link, too large, binary or not
a notebook is left out with a reason, and costs only its own submission.
"""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import course, notebooks, records
from . import compare, page, sources      # reading the code; comparing it; the page


def page_name(assignment_id: str) -> str:
    return f"{assignment_id}-similarity.html"


def csv_name(assignment_id: str) -> str:
    return f"{assignment_id}-similarity.csv"


@dataclass
class Result:
    assignment: course.Assignment
    docs: list
    pairs: list
    weight: dict
    skipped: list          # (name, reason)


def analyse(root: Path, assignment: course.Assignment, against: Path | None = None,
            students=None) -> Result:
    root = Path(root)
    release_dir = root / "release" / assignment.id
    if not (release_dir / assignment.notebook).is_file():
        raise SystemExit(f"{assignment.id} has not been released in {root}: "
                         f"run `grader release --course-dir {root}` first")
    release_nb = notebooks.load(release_dir / assignment.notebook)
    docs, skipped = [], []
    base = root / "submitted"
    for student in students or records.submissions(root, assignment.id):
        doc, reason = sources.submission(base / student / assignment.id, assignment, release_nb,
                                         student)
        if doc is None:
            skipped.append((sources.readable(student), reason))
        else:
            docs.append(doc)
    if against is not None:
        found, left = sources.outside(Path(against))
        docs += found
        skipped += [(f"{name} (outside)", why) for name, why in left]
    compare.fingerprint_all(docs, compare.boilerplate(release_dir, assignment, release_nb))
    weight = compare.weights(docs)
    return Result(assignment, docs, compare.pairs(docs, weight), weight, skipped)


def _cell(value) -> str:
    """A CSV field that a spreadsheet will not run as a formula."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(result: Result, path: Path):
    with open(path, "w", newline="", encoding="utf-8", errors="replace") as handle:
        out = csv.writer(handle)
        out.writerow(["rank", "submission", "similar_to", "kind", "score", "its_code_in_other",
                      "others_code_in_it", "unweighted", "shared_fingerprints"])
        for rank, p in enumerate(result.pairs, 1):
            out.writerow([rank, _cell(p.a.name), _cell(p.b.name),
                          "outside" if p.b.kind == "outside" else "student",
                          f"{p.score:.4f}", f"{p.a_in_b:.4f}", f"{p.b_in_a:.4f}",
                          f"{p.raw:.4f}", p.shared])


def similarity(root: Path, assignment_ids=None, against: Path | None = None,
               out: Path | None = None, log=print) -> list[Path]:
    root = Path(root)
    out = Path(out) if out is not None else root / "reports"
    ids = assignment_ids or [a.id for a in course.ASSIGNMENTS.values()
                             if records.submissions(root, a.id)]
    written = []
    for assignment in (course.get(i) for i in ids):
        result = analyse(root, assignment, against)
        if not [d for d in result.docs if d.kind == "student"]:
            log(f"{assignment.id}: no submission with code to compare")
            continue
        out.mkdir(parents=True, exist_ok=True)
        path = out / page_name(assignment.id)
        path.write_text(page.render(result, csv_name(assignment.id)), encoding="utf-8",
                        errors="replace")                        # lone surrogates
        write_csv(result, out / csv_name(assignment.id))
        written.append(path)
        top = result.pairs[0] if result.pairs else None
        log(f"{assignment.id}: {len(result.docs)} compared, {len(result.skipped)} left out"
            + (f"; most similar {_safe(top.a.name)} ~ {_safe(top.b.name)} {top.score:.2f}"
               if top else "") + f" -> {path}")
        if (out / f"{assignment.id}.html").exists():     # the class report links to the page
            from .. import report
            report.report(root, [assignment.id], out, log=lambda *_: None)
    return written


def _safe(name: str) -> str:
    """A name as a terminal may print it (no control characters)."""
    return name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name


def add_arguments(parser):
    parser.add_argument("assignments", nargs="*", help="default: every assignment with "
                        "submissions")
    parser.add_argument("--course-dir", type=Path, default=course.DEFAULT_COURSE)
    parser.add_argument("--against", type=Path, help="a folder of known outside solutions "
                        "(each file or top-level folder is one source)")
    parser.add_argument("--out", type=Path, help="folder for the pages and CSVs (default "
                        "<course-dir>/reports, next to the class report)")


def run(args) -> int:
    if args.against is not None and not args.against.is_dir():
        print(f"grader similarity: --against {args.against} is not a folder", file=sys.stderr)
        return 2
    written = similarity(args.course_dir, args.assignments or None, args.against, args.out)
    if not written:
        print(f"grader similarity: no submission to compare in {args.course_dir}",
              file=sys.stderr)
        return 1
    return 0
