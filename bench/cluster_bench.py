"""`grader autograde` on a Dask cluster against the local pool, on the same class, in one run.

The class is autograde_bench.py's (default 20 submissions of assignment 3: correct, buggy,
syntax_error, untouched_release, missing_notebook, and the sleeper, crasher and allclose_patch
kinds), built three times from one plan: once for the local pool, once for Dask, once as
autograde_bench.py's plain-script floor. Each measurement is its own subprocess:

* local: grader.autograde.autograde(course, jobs=<cores>) (the default pool);
* dask:  a LocalCluster of one worker process with <cores> threads, as docs/scale.md
  recommends a node (--worker-processes P: P processes sharing them), started and connected
  before the clock starts (the cluster already exists), then
  grader.autograde.autograde(course, scheduler=<its address>);
* floor: every submission's code cells as one `python script.py` (autograde_bench.run_floor);
  a script a crash killed runs again without that cell, as the grader runs the cells after it.

Printed, as medians over --repeats (the order rotates between repeats): each path's wall time
of the grading call and CPU (user + sys of the whole process tree, RUSAGE_CHILDREN), the Dask
overhead per submission (dask - local, / N, and as a share of local's per-submission cost;
target < 2 %), the class's CPU over the floor's (crashers included; target <= 1.1x), and a
projection for 10,000 submissions from the per-task costs measured here (see `projection`).

    python bench/cluster_bench.py [--students 20] [--repeats 2] [--out build/bench-cluster]

bench/README.md says how to read it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import autograde_bench as ab  # noqa: E402

from grader import autograde as grading  # noqa: E402
from grader import course, release, records  # noqa: E402

TARGET_OVERHEAD = 0.02      # Dask's extra wall time per submission, over the local pool's
TARGET_FLOOR_CPU = 1.1      # the class's CPU over the plain-script floor's
PROJECTED = 10_000
PROJECTED_CORES = (2, 16, 64, 256)

DRIVER = '''
import json, resource, sys, time
from pathlib import Path


def cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def main():
    from grader.autograde import GradingFailed, autograde
    from grader.cleanroom import Budget
    mode, root, budget, jobs, out = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), \\
        int(sys.argv[4]), Path(sys.argv[5])
    processes = int(sys.argv[6])
    kwargs = dict(force=True, progress=False, budget=Budget(cell=budget), log=lambda *a: None)
    cluster = None
    if mode in ("dask", "idle"):
        from distributed import Client, LocalCluster
        cluster = LocalCluster(n_workers=processes, threads_per_worker=jobs // processes,
                               processes=True, dashboard_address=None)
        with Client(cluster, set_as_default=False) as client:
            client.wait_for_workers(processes)
        kwargs["scheduler"] = cluster.scheduler_address
    else:
        kwargs["jobs"] = jobs
    serial = []
    if mode == "dask":          # the client's CPU from the first task submitted to the last stored
        from grader import cluster as grading_cluster
        store = grading_cluster.store_finished

        def timed_store(*args, **kw):
            before = cpu()
            try:
                return store(*args, **kw)
            finally:
                serial.append(cpu() - before)
        grading_cluster.store_finished = timed_store
    started, own = time.perf_counter(), cpu()
    failed = ""
    if mode == "idle":          # the fixed cost: every worker sets up its clean room, no task
        from grader import cluster as grading_cluster
        with grading_cluster.connect(cluster.scheduler_address) as client:
            grading_cluster._plugin(client, "idle", False, None, lambda *a: None)
    else:
        try:
            autograde(root, **kwargs)
        except GradingFailed as error:
            failed = str(error)
    wall, own = time.perf_counter() - started, cpu() - own
    if cluster is not None:
        cluster.close()
    out.write_text(json.dumps({"wall": wall, "client_cpu": own, "failed": failed,
                               "serial_cpu": sum(serial)}))


if __name__ == "__main__":
    main()
'''


def prepare(out: Path, assignment_id: str, n: int, budget: int):
    """The class, from one plan, in out/local, out/dask and out/floor."""
    plan = ab.plan(n, assignment_id)
    courses = {}
    for mode in ("local", "dask"):
        root = out / mode
        if root.exists():
            shutil.rmtree(root)
        for bundle in release.release(root, [assignment_id], log=lambda *a: None):
            assignment = course.get(bundle.name)
            for student, kind in plan.items():
                ab.build(kind, assignment, bundle, root / "submitted" / student / assignment.id)
        courses[mode] = root
    floor = out / "floor"
    if floor.exists():
        shutil.rmtree(floor)
    for student in plan:
        folder = floor / student / assignment_id
        shutil.copytree(courses["local"] / "submitted" / student / assignment_id, folder)
        (folder / "script.py").write_text(
            ab.floor_script(folder / course.get(assignment_id).notebook, budget))
    return plan, courses, floor


def run_grader(mode, root, budget, jobs, out: Path, tag, processes=1):
    driver = out / "driver.py"
    driver.write_text(DRIVER)
    result = out / f"{mode}-{tag}.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    wall, cpu, load, code, _ = ab.timed([sys.executable, str(driver), mode, str(root),
                                         str(budget), str(jobs), str(result),
                                          str(processes)],
                                        out / "logs" / f"{mode}-{tag}.log", env=env)
    measured = json.loads(result.read_text()) if result.is_file() else {}
    outcomes = records.outcomes(root, root_assignment(root)) if mode != "idle" else []
    return {"process_wall": wall, "cpu": cpu, "load": load, "exit": code,
            "wall": measured.get("wall", float("nan")),
            "client_cpu": measured.get("client_cpu", float("nan")),
            "serial_cpu": measured.get("serial_cpu", float("nan")),
            "failed": measured.get("failed", "no result"),
            "task_seconds": [o.seconds for o in outcomes],
            "scores": {o.student: o.total for o in outcomes},
            "statuses": {o.student: o.status for o in outcomes}}


def root_assignment(root: Path) -> str:
    return next(p.name for p in (root / "release").iterdir() if p.is_dir())


def projection(n_measured, local, dask, cores) -> list[tuple]:
    """Wall time for PROJECTED submissions on C cores, from this run's per-task costs:
    the grading itself (the median task's seconds from its core on, as Dask's workers report
    them, times N / C: tasks are independent) plus what the client does per submission, one
    after another (its CPU per submission on Dask: reading and shipping the submission,
    storing the result, the LocalCluster's scheduler thread: the client's CPU from the first
    task submitted to the last result stored), whichever bounds: the client is the one
    writer, so past C = task / client seconds more cores do not help."""
    task = statistics.median(dask["task_seconds"]) if dask["task_seconds"] else float("nan")
    # on `cores` cores the pool overlaps tasks: the measured per-core throughput
    per_core = dask["wall"] * cores / n_measured
    client = dask["serial_cpu"] / n_measured
    rows = []
    for c in PROJECTED_CORES:
        compute = PROJECTED * per_core / c
        serial = PROJECTED * client
        rows.append((c, compute, serial, max(compute, serial)))
    return task, per_core, client, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--assignment", default="a3_neural_network",
                        choices=list(course.ASSIGNMENTS))
    parser.add_argument("--cell-timeout", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=grading.default_jobs(),
                        help="local pool jobs and Dask worker threads (default: cores)")
    parser.add_argument("--worker-processes", type=int, default=1,
                        help="the LocalCluster's worker processes, sharing --jobs threads "
                             "(default 1: one per machine, as docs/scale.md recommends)")
    parser.add_argument("--no-floor", action="store_true", help="skip the plain-script floor")
    parser.add_argument("--out", type=Path, default=course.BUILD / "bench-cluster")
    args = parser.parse_args(argv)
    if args.worker_processes < 1 or args.jobs % args.worker_processes:
        parser.error(f"--worker-processes must divide --jobs ({args.jobs}) into whole threads")
    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    lines = []

    def say(line=""):
        print(line, flush=True)
        lines.append(line)

    n = args.students
    plan, courses, floor = prepare(out, args.assignment, n, args.cell_timeout)
    say(f"cluster_bench: {n} submissions of {args.assignment}, {args.jobs} jobs / Dask threads "
        f"in {args.worker_processes} worker process(es), "
        f"{os.cpu_count()} cores, code {ab.code_version()}")
    runs = {"local": [], "dask": [], "idle": [], "floor": []}
    order = ["local", "dask", "idle", "floor"][:3 if args.no_floor else 4]
    for repeat in range(args.repeats):
        for mode in order[repeat % len(order):] + order[:repeat % len(order)]:
            if mode == "floor":
                t = ab.run_floor(floor, [args.assignment], list(plan), args.cell_timeout,
                                 out / "logs", f"r{repeat}")
                run = {"wall": t.wall, "cpu": t.cpu, "load": t.load,
                       "stopped_cpu": t.stopped_cpu}
            else:
                run = run_grader(mode, courses["dask" if mode == "idle" else mode],
                                 args.cell_timeout, args.jobs, out, f"r{repeat}",
                                 args.worker_processes)
            runs[mode].append(run)
            say(f"  repeat {repeat + 1} {mode:5}: wall {run['wall']:7.1f} s, CPU "
                f"{run['cpu']:7.1f} s, load {run['load'][0]:.2f}->{run['load'][1]:.2f}"
                + (f", client CPU {run['client_cpu']:.1f} s" if 'client_cpu' in run else "")
                + (f"  ({run['failed']})" if run.get("failed") else ""))

    def med(mode, key):
        return statistics.median(r[key] for r in runs[mode])

    local, dask = runs["local"][-1], runs["dask"][-1]
    same = local["scores"] == dask["scores"] and local["statuses"] == dask["statuses"]
    lw, dw = med("local", "wall"), med("dask", "wall")
    overhead = (dw - lw) / n
    say()
    say(f"medians of {args.repeats} repeats, {n} submissions:")
    say(f"  local pool  wall {lw:7.1f} s ({lw / n:.2f} s/submission), CPU {med('local', 'cpu'):.1f} s")
    say(f"  Dask        wall {dw:7.1f} s ({dw / n:.2f} s/submission), CPU {med('dask', 'cpu'):.1f} s")
    say(f"  Dask overhead per submission: {overhead:+.3f} s = {overhead / (lw / n):+.1%} of "
        f"the local pool's (target < {TARGET_OVERHEAD:.0%}); per-repeat Dask/local wall: "
        + ", ".join(f"{d['wall'] / l['wall']:.3f}" for l, d in zip(runs['local'], runs['dask'])))
    iw, ic = med("idle", "wall"), med("idle", "cpu")
    say(f"  Dask's fixed start-up (a run that grades nothing: the cluster's processes, a clean "
        f"room per worker): wall {iw:.1f} s inside the call, CPU {ic:.1f} s of the tree")
    marginal = (dw - iw - lw) / n
    say(f"  Dask overhead per submission without that start-up: {marginal:+.3f} s = "
        f"{marginal / (lw / n):+.1%}; CPU (Dask - start-up) / local: "
        f"{(med('dask', 'cpu') - ic) / med('local', 'cpu'):.3f}")
    say(f"  same scores and statuses on both paths: {'yes' if same else 'NO'}")
    result = {"students": n, "runs": runs, "overhead_per_submission": overhead,
              "overhead_without_startup": marginal}
    if runs["floor"]:
        fc, sc = med("floor", "cpu"), med("floor", "stopped_cpu")
        say(f"  floor       wall {med('floor', 'wall'):7.1f} s, CPU {fc:.1f} s (of which "
            f"{fc - sc:.1f} s running again the scripts a crash killed, without that cell)")
        for mode in ("local", "dask"):
            say(f"  CPU {mode} / floor: {med(mode, 'cpu') / fc:.3f} (target <= "
                f"{TARGET_FLOOR_CPU}); per repeat: "
                + ", ".join(f"{r['cpu'] / f['cpu']:.3f}" for r, f in zip(runs[mode], runs['floor']))
                + f"; against the floor that stops at a crash (never runs the cells after "
                  f"it): {med(mode, 'cpu') / sc:.3f}"
                + (f"; without Dask's fixed start-up (per run, not per submission): "
                   f"{(med(mode, 'cpu') - ic) / fc:.3f}" if mode == "dask" else ""))
        result["cpu_over_floor"] = {m: med(m, "cpu") / fc for m in ("local", "dask")}
        result["dask_cpu_over_floor_without_startup"] = (med("dask", "cpu") - ic) / fc
        result["cpu_over_stopping_floor"] = {m: med(m, "cpu") / sc for m in ("local", "dask")}
    task, per_core, client, rows = projection(n, local, dask, args.jobs)
    say()
    say(f"projection for {PROJECTED:,} submissions (this class's mix), from this run: median "
        f"task {task:.2f} s from its core on; {per_core:.2f} core-seconds per submission on "
        f"Dask (wall x cores / N, sleepers and restarts included); client {client * 1000:.0f} "
        "ms CPU per submission (shipping, storing, scheduler), serial")
    for c, compute, serial, total in rows:
        say(f"  {c:4d} cores: grading {compute / 3600:7.2f} h, client {serial / 3600:5.2f} h "
            f"-> {total / 3600:7.2f} h")
    result["projection"] = {"task": task, "per_core": per_core, "client": client, "rows": rows}
    (out / "results.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "report.txt").write_text("\n".join(lines) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
