"""A Dask worker's environment, without a cluster: what the nanny's `pre-spawn-environ` sets
must not make grading cost more there than in the local pool (grader.cluster)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import ctypes, json, os, sys
import numpy as np
sys.path.insert(0, sys.argv[1])


class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2
if sys.argv[2] == "worker":
    from grader import cluster
    cluster._without_nanny_environ()
before = libc.mallinfo2().hblks
held = np.ones(4 << 17)                      # 4 MiB, as the checks' arrays come and go
print(json.dumps({"mapped": libc.mallinfo2().hblks - before,
                  "environ": os.environ.get("MALLOC_TRIM_THRESHOLD_")}))
"""


def probe(kind):
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")   # as Dask's nanny starts a worker
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), kind], env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_dask_worker_keeps_arrays_on_the_heap_as_the_local_pool_does():
    """Started with MALLOC_TRIM_THRESHOLD_, glibc maps and unmaps every array of 128 KiB or
    more (numpy code costs 1.5x the CPU: bench/README.md); the worker's clean room undoes it
    for itself (mallopt) and for what it starts (the variable)."""
    assert probe("nanny") == {"mapped": 1, "environ": "65536"}     # what the nanny leaves
    assert probe("worker") == {"mapped": 0, "environ": None}


def test_a_grading_run_quiets_the_workers_housekeeping_and_gives_it_back():
    """The profiler paused and the monitors slowed while the clean room is set up on a worker
    (grader.cluster.QUIETER: measured costs in bench/README.md), all as before at teardown."""
    from distributed import Client, LocalCluster

    from grader import cluster

    def state(dask_worker):
        callbacks = dask_worker.periodic_callbacks
        return {name: (callbacks[name].is_running(), callbacks[name].callback_time)
                for name in cluster.QUIETER}

    def quiet(dask_worker):
        cluster._quiet_server(dask_worker=dask_worker)      # as the plugin's setup does
        return state(dask_worker)

    def restore(dask_worker):
        cluster._loud_server(dask_worker=dask_worker)       # and its teardown
        return state(dask_worker)

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as local, \
            Client(local, set_as_default=False) as client:
        (before,) = client.run(state).values()
        (during,) = client.run(quiet).values()
        (after,) = client.run(restore).values()
    assert before["profile"][0] and before["tick"] == (True, 20)
    assert during["profile"][0] is False and during["profile-cycle"][0] is False
    assert during["tick"] == (True, 200) and during["memory_monitor"] == (True, 500)
    assert during["monitor"] == (True, 2000)
    assert after == before


BLAS_PROBE = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from threadpoolctl import threadpool_info
from grader import autograde
NAMES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
before = {name: os.environ.get(name) for name in NAMES}
with (autograde.one_blas_thread() if sys.argv[2] == "graded" else open(os.devnull)):
    import scipy.optimize, sklearn.datasets   # loaded while grading: the training check's
    threads = {info["filepath"]: info["num_threads"] for info in threadpool_info()}
print(json.dumps({"threads": threads,
                  "environ_back": before == {name: os.environ.get(name) for name in NAMES}}))
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: one BLAS thread anyway")
def test_grading_keeps_every_blas_on_one_thread_even_a_library_loaded_after_it_starts():
    """threadpoolctl limits the libraries loaded already; scipy's own OpenBLAS loads with the
    first L-BFGS-B, inside the run, and its idle threads spun after every call (3 % of a
    class's CPU: bench/README.md) until the environment said one thread too."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}

    def run(kind):
        out = subprocess.run([sys.executable, "-c", BLAS_PROBE, str(ROOT), kind], env=env,
                             capture_output=True, text=True, timeout=120, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    plain, graded = run("plain"), run("graded")
    scipys = [path for path in plain["threads"] if "scipy.libs" in path]
    assert scipys and all(plain["threads"][path] > 1 for path in scipys)   # what it guards
    assert set(graded["threads"].values()) == {1}, graded["threads"]
    assert graded["environ_back"]


def test_overlapping_grading_runs_share_the_one_blas_thread_and_give_the_environment_back(
        monkeypatch):
    """Two clean rooms in one process (an in-process cluster of two workers, or autograde
    called from two threads) may end in the order they started: the first to end must leave
    the other's one thread, the last give back what the user had."""
    from threadpoolctl import threadpool_info

    from grader import autograde
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    first, second = autograde.one_blas_thread(), autograde.one_blas_thread()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1" and os.environ["OMP_NUM_THREADS"] == "1"
    assert {info["num_threads"] for info in threadpool_info()} == {1}
    second.__exit__(None, None, None)
    assert "OPENBLAS_NUM_THREADS" not in os.environ and os.environ["OMP_NUM_THREADS"] == "2"


def _cluster_quieting():
    """On a LocalCluster of one nanny-run worker: the nanny's and the scheduler's housekeeping
    while quieted twice (a run killed before it gave it back, then the next run), and after."""
    from distributed import Client, LocalCluster

    from grader import cluster

    def state(servers):
        return [{name: s.periodic_callbacks[name].callback_time
                 for name in ("tick", "monitor", "memory_monitor")
                 if name in s.periodic_callbacks} for s in servers]

    with LocalCluster(n_workers=1, processes=True, dashboard_address=None) as local, \
            Client(local, set_as_default=False) as client:
        servers = [local.scheduler, *local.workers.values()]     # here: scheduler, nanny
        before = state(servers)
        cluster._housekeeping(client, cluster._quiet_server)
        cluster._housekeeping(client, cluster._quiet_server)
        during = state(servers)
        cluster._housekeeping(client, cluster._loud_server)
        return before, during, state(servers)


def test_a_grading_run_quiets_the_nannies_and_the_scheduler_and_gives_them_back():
    """They keep house by the second, as the workers do (bench/README.md: 0.9 s of CPU in 30 s
    for an idle LocalCluster's client process, 0.33 s quieted)."""
    before, during, after = _cluster_quieting()
    scheduler, nanny = before
    assert scheduler == {"tick": 20, "monitor": 500} and nanny["memory_monitor"] == 100
    assert during == [{"tick": 200, "monitor": 2000},
                      {"tick": 200, "monitor": 2000, "memory_monitor": 500}]
    assert after == before
