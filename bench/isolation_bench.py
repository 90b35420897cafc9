"""What each isolation mode costs: the demo class graded with the code before namespaces for
ordinary users (`--before`, default the commit before they landed) and with today's code in
every mode this machine allows, in one run, alternating, each grading its own copy of the class.

    python bench/isolation_bench.py [--repeats 3] [--before REV] [--out build/bench-isolation]

Prints per variant the median wall time of a whole class (15 submissions: 5 samples x 3
assignments) and of one worker's start and stop (spawn + a first cell + close), the ratio to
the baseline, and whether today's modes gave every submission the same score (the baseline
runs its own, older checks: the bench lists the submissions it scores differently).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grader import course, demo  # noqa: E402

BEFORE = "0ab623e"      # the last commit whose workers were confined only as root

GRADE = """
import json, sys, time
from grader.autograde import autograde
kwargs = json.loads(sys.argv[2])
started = time.perf_counter()
outcomes = autograde(sys.argv[1], force=True, progress=False, log=lambda *a: None, **kwargs)
print(json.dumps({"seconds": time.perf_counter() - started,
                  "scores": {f"{o.assignment}/{o.student}": o.total for o in outcomes}}))
"""

SPAWN = """
import json, sys, tempfile, time
from pathlib import Path
from grader.sandbox import session as sandbox
from grader.sandbox.session import Session, hidden_paths
# the fork server's client: ForkServer, or Zygote in the baseline's code
fork_server = (getattr(sandbox, "ForkServer", None) or sandbox.Zygote)()
if sys.argv[1] != "-":
    fork_server.mode = sys.argv[1]
folder = Path(tempfile.mkdtemp())
(folder / "layers.py").write_text("x = 1\\n")
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    session = Session(fork_server, folder, hide=hidden_paths())
    session.request("run_cell", source="y = x + 1")
    session.close()
    times.append(time.perf_counter() - started)
fork_server.close()
print(json.dumps(times))
"""


def snapshot(rev, into):
    """The repository's code at `rev`, as files (git archive): what the baseline runs."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def variants(before_code):
    from grader.doctor import probe
    best = probe()["mode"]
    modes = [best, "weak"] if best != "weak" else ["weak"]    # root cannot use "userns"
    found = [("before", before_code, {}, "-")] if before_code else []
    found += [(mode, ROOT, {"isolation": mode, "allow_weak": mode == "weak"}, mode)
              for mode in modes]
    return found


class Unavailable(Exception):
    """A variant that cannot run on this machine (weak isolation as root with a Python only
    root can read, say)."""


def run(code, script, *args):
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=code, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise Unavailable(done.stderr.strip().splitlines()[-1][:300])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spawns", type=int, default=20)
    parser.add_argument("--before", default=BEFORE, help="baseline commit ('' for none)")
    parser.add_argument("--out", type=Path, default=course.BUILD / "bench-isolation")
    args = parser.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    master = args.out / "class"
    demo.grade_demo_class(master, log=lambda *a: None)          # released and submitted
    # the code before ran its workers unconfined without root: no baseline for a user
    before = snapshot(args.before, args.out / "before") \
        if args.before and os.geteuid() == 0 else None
    found = variants(before)
    print(f"machine: {os.cpu_count()} cores, uid {os.geteuid()}; variants: "
          + ", ".join(name for name, *_ in found), flush=True)
    walls = {name: [] for name, *_ in found}
    spawns = {name: [] for name, *_ in found}
    scores = {}
    for repeat in range(args.repeats):
        for name, code, kwargs, mode in (found if repeat % 2 == 0 else found[::-1]):
            copy = args.out / f"course-{name}"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(master, copy)
            try:
                result = run(code, GRADE, copy, json.dumps(kwargs))
            except Unavailable as why:
                print(f"  {name}: not available here ({why})", flush=True)
                found = [f for f in found if f[0] != name]
                continue
            walls[name].append(result["seconds"])
            scores.setdefault(name, result["scores"])
            spawns[name] += run(code, SPAWN, mode, args.spawns)
            print(f"  repeat {repeat + 1} {name}: class {result['seconds']:.1f} s", flush=True)
    base = found[0][0]
    print(f"\n{'variant':<8} {'class s (median)':>17} {'ratio':>6} {'worker ms (median)':>19} "
          f"{'ratio':>6}")
    for name, *_ in found:
        if not walls[name]:
            continue
        wall, spawn = statistics.median(walls[name]), statistics.median(spawns[name]) * 1000
        print(f"{name:<8} {wall:>17.1f} {wall / statistics.median(walls[base]):>6.2f} "
              f"{spawn:>19.1f} {spawn / (statistics.median(spawns[base]) * 1000):>6.2f}")
    # the modes run today's checks and must agree; the baseline runs its own (older) checks
    today = [name for name in scores if name != "before"]
    same = all(scores[name] == scores[today[0]] for name in today)
    print(f"\nscores identical across today's modes ({', '.join(today)}): {same}")
    if "before" in scores and today:
        changed = sorted(k for k in scores[today[0]]
                         if scores["before"].get(k) != scores[today[0]][k])
        print("the baseline's checks score differently: "
              + (", ".join(f"{k} {scores['before'].get(k)} -> {scores[today[0]][k]}"
                           for k in changed) or "nothing"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
