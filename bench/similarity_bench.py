"""Time of `grader similarity` on a class of 150 (assignment 3), next to the time grading it takes.

The class: N students whose every layers.py region and notebook answer is drawn at random
(fixed seed) from the hand-written authors of the similarity test class
(tests/similarity_class.py: the reference, authors A-G with the project's mutants grafted); a
third of them stopped after the short regions (the rest is the release's stub). Planted: two
students copy another one whole (renamed, reordered, recommented, code moved between cells), and
one copies the outside solution passed with --against.

Measured, each as its own subprocess timed from launch to exit, in the same run:

* similarity: `grader similarity a3_neural_network --against ...` on the whole class
  (`--repeats` times; the median is quoted);
* grading baseline: `grader autograde a3_neural_network` of `--grade` submissions (default 6)
  that run as a working class does (the demo's `correct` and `buggy` samples, alternating; the
  random mixtures above often fail at once and would understate grading), scaled to the
  class: wall / graded x N.

It prints both, their ratio, and where the planted copies rank (weighted score and unweighted).

    python bench/similarity_bench.py [--students 150] [--repeats 3] [--grade 4] [--out DIR]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grader import course, release, similarity, stubs  # noqa: E402
from tests import similarity_class as tc  # noqa: E402

A3 = course.get("a3_neural_network")
SHORT = 2           # regions of at most this many lines are the "short" ones partial students do


def _pool():
    """region -> every author's version; notebook cell -> every author's answer."""
    regions, cells = {}, {}
    for name, (bodies, answers) in tc.authors().items():
        for region, body in bodies.items():
            regions.setdefault(region, []).append(body)
        for grade_id, body in answers.items():
            cells.setdefault(grade_id, []).append(textwrap.dedent(body))
    reference = {name: None for name, _, _ in stubs.regions(tc.LAYERS)}
    for region in reference:
        regions.setdefault(region, []).append(_reference_body(region))
    return regions, cells


def _reference_body(region):
    lines = tc.LAYERS.splitlines()
    name, first, last = next(r for r in stubs.regions(tc.LAYERS) if r[0] == region)
    return textwrap.dedent("\n".join(lines[first:last - 1]))


def build(root: Path, against: Path, n: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    regions, cells = _pool()
    release_nb = tc.released_notebook(root / "release" / A3.id)
    students = {}
    for i in range(n - 3):
        partial = rng.random() < 1 / 3
        chosen = {r: rng.choice(v) for r, v in regions.items()
                  if not partial or len(textwrap.dedent(v[0]).strip().splitlines()) <= SHORT}
        answers = {g: rng.choice(v) for g, v in cells.items() if not partial or rng.random() < .5}
        students[f"s{i:03d}"] = (chosen, answers)
    for name, (chosen, answers) in students.items():
        tc.write(root / "submitted" / name / A3.id, tc.layers_text(chosen),
                 tc.notebook_with(release_nb, answers))
    copied = [s for s, (c, _) in students.items() if len(c) == len(regions)][:2]
    planted = {}
    for k, original in enumerate(copied):
        chosen, answers = students[original]
        text = tc.recomment(tc.reorder(tc.rename(tc.layers_text(chosen), tc.RENAMES)))
        moved = dict(answers)
        if {"encode_solution", "create_network_solution"} <= moved.keys():
            moved["encode_solution"], moved["create_network_solution"] = (
                lambda src, b=answers["create_network_solution"]: tc._whole(
                    "def create_network():", b),
                lambda src, b=answers["encode_solution"]: tc._whole("def encode(labels):", b))
        name = f"copy{k}_of_{original}"
        tc.write(root / "submitted" / name / A3.id, text, tc.notebook_with(release_nb, moved))
        planted[name] = original
    (against / "web").mkdir(parents=True, exist_ok=True)
    outside = tc.layers_text(tc.OUTSIDE)
    (against / "web" / "layers.py").write_text(outside)
    tc.write(root / "submitted" / "copy_of_web" / A3.id,
             tc.recomment(tc.rename(outside, {"cache_in": "saved_x", "cache_out": "saved_y"})),
             tc.notebook_with(release_nb, tc.WEB_CELLS))
    planted["copy_of_web"] = "web"
    return planted


def timed(command, env=None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def ranks(csv_path: Path, planted: dict):
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    copies = [r for r in rows if planted.get(r["submission"]) == r["similar_to"]
              or planted.get(r["similar_to"]) == r["submission"]]
    others = [r for r in rows if r not in copies]
    out = {}
    for column in ("score", "unweighted"):
        order = sorted(rows, key=lambda r: -float(r[column]))
        out[column] = {"copy ranks": sorted(order.index(r) + 1 for r in copies),
                       "lowest copy": min(float(r[column]) for r in copies),
                       "highest other pair": max(float(r[column]) for r in others)}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grade", type=int, default=6, help="submissions graded for the "
                        "baseline (0: skip it)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench-similarity")
    args = parser.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    root, against = args.out / "course", args.out / "against"
    release.release(root, [A3.id], log=lambda *_: None)
    planted = build(root, against, args.students)
    grader = [sys.executable, "-m", "grader"]
    env = {k: v for k, v in os.environ.items()}
    seconds = [timed(grader + ["similarity", A3.id, "--course-dir", str(root), "--against",
                               str(against), "--out", str(args.out / "reports")], env)
               for _ in range(args.repeats)]
    print(f"similarity, {args.students} students: " + ", ".join(f"{s:.1f}" for s in seconds)
          + f" s; median {statistics.median(seconds):.1f} s "
          f"({os.cpu_count()} cores, load {os.getloadavg()[0]:.2f})")
    found = ranks(args.out / "reports" / similarity.csv_name(A3.id), planted)
    for column, facts in found.items():
        print(f"  {column:10s}: planted copies rank {facts['copy ranks']} of "
              f"{args.students * (args.students - 1) // 2 + args.students}; lowest copy "
              f"{facts['lowest copy']:.3f}, highest other pair {facts['highest other pair']:.3f}")
    result = {"students": args.students, "similarity_s": seconds, "ranks": found}
    if args.grade:
        from grader import demo
        graded_root = args.out / "graded"
        shutil.copytree(root / "release", graded_root / "release")
        shutil.copy(root / "gradebook.db", graded_root / "gradebook.db")
        for i in range(args.grade):
            kind = ("correct", "buggy")[i % 2]
            demo.build_sample(kind, A3, root / "release" / A3.id,
                              graded_root / "submitted" / f"{kind}{i}" / A3.id)
        graded = timed(grader + ["autograde", A3.id, "--course-dir", str(graded_root)], env)
        per = graded / args.grade
        estimate = per * args.students
        print(f"grading baseline: `grader autograde` of {args.grade} working submissions took "
              f"{graded:.1f} s ({per:.1f} s a submission, default --jobs) -> {estimate:.0f} s "
              f"for {args.students}; similarity / grading = "
              f"{statistics.median(seconds) / estimate:.3f}")
        result.update(grade_sample=args.grade, grade_s=graded, grade_estimate_s=estimate)
    (args.out / "results.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
