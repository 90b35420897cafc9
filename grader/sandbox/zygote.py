"""A fork server: imports numpy, scipy, scikit-learn, matplotlib and IPython once, then forks a
confined worker per request, so a worker starts in milliseconds instead of ~1 s of imports.

It never imports the reference or the hidden tests, so a forked worker has none in memory.
Protocol (over the socket whose fd is in $GRADER_ZYGOTE_FD): one JSON request per message,
the worker's socket passed with SCM_RIGHTS on "spawn"; one JSON reply per message.

A spawn in a namespace mode (grader.sandbox.confine) forks a short-lived helper that enters the
new namespaces and forks the namespace's PID 1 and then the worker (PID 2); the helper exits at
once, and this server, a child subreaper, becomes the parent of both: it reaps the worker and
learns exactly how it died.
"""
from __future__ import annotations

import ctypes
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile

from . import confine as confinement
from .worker import serve

HEAVY = ("numpy", "scipy.optimize", "scipy.special", "sklearn.datasets",
         "sklearn.model_selection", "sklearn.metrics", "matplotlib", "matplotlib.pyplot",
         "IPython.core.interactiveshell", "IPython.utils.capture",
         "IPython.extensions.autoreload", "matplotlib_inline.backend_inline")
PR_SET_CHILD_SUBREAPER = 36
SETUP_TIMEOUT = 60.0        # seconds a worker may take to be confined (copying its files)


def preload():
    os.environ.setdefault("MPLBACKEND", "Agg")
    import importlib
    for name in HEAVY:
        importlib.import_module(name)
    from sklearn.datasets import load_digits
    load_digits()                       # warm the data file's page cache


def _describe(status):
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return {"signal": signal.Signals(number).name, "code": None}
    return {"signal": None, "code": os.WEXITSTATUS(status)}


def _say(fd, **message):
    os.write(fd, (json.dumps(message) + "\n").encode())


def _worker(conn, request, report):
    """The forked worker: confine, say so on `report`, then serve the grader."""
    confinement.close_fds([conn.fileno(), report])  # nothing a student writes reaches the
    try:                                                # grader's terminal
        confinement.confine(request["workdir"], request["mode"], request.get("hide", ()),
                            request.get("limits"), request.get("uid"), request.get("keep", ()))
    except BaseException as error:
        _say(report, error=f"{type(error).__name__}: {error}")
        os._exit(70)
    _say(report, ready=True)
    os.close(report)
    try:
        serve(conn, request["workdir"], request.get("leash"))
    finally:
        os._exit(0)


def _helper(conn, request, report):
    """Enter the namespaces, fork their PID 1 and the worker, report both pids and exit."""
    try:
        mode = request["mode"]
        fork_server = os.pidfd_open(os.getppid())
        confinement.unshare(mode)
        init = os.fork()
        if init == 0:
            confinement.hold_namespace(mode, fork_server)
        worker = os.fork()
        if worker == 0:
            _worker(conn, request, report)
        _say(report, pids=[worker, init])
    except BaseException as error:
        _say(report, error=f"{type(error).__name__}: {error}")
    os._exit(0)


def _read_reports(fd, want):
    """Lines from the spawn's report pipe until every key of `want` arrived, or an error, or
    every writer closed it, or SETUP_TIMEOUT."""
    got, buffer = {}, b""
    while not want <= got.keys() and "error" not in got:
        if not select.select([fd], [], [], SETUP_TIMEOUT)[0]:
            got["error"] = f"the worker was not ready within {SETUP_TIMEOUT:g} s"
            break
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            got.setdefault("error", "the worker ended while it was being confined")
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            got.update(json.loads(line))
    return got


class Children:
    """The workers this server forked: worker pid -> (its namespace's PID 1 or None, uid)."""

    def __init__(self):
        self.table = {}

    def spawn(self, conn, request, control):
        read, write = os.pipe()
        if request["mode"] == "weak":
            worker = os.fork()
            if worker == 0:
                control.close()
                os.close(read)
                _worker(conn, request, write)
            os.close(write)
            got = _read_reports(read, {"ready"})
            got.setdefault("pids", [worker, None])
        else:
            helper = os.fork()
            if helper == 0:
                control.close()
                os.close(read)
                _helper(conn, request, write)
            os.close(write)
            got = _read_reports(read, {"ready", "pids"})
            os.waitpid(helper, 0)
        os.close(read)
        worker, init = got.get("pids", [None, None])
        if worker:
            self.table[worker] = (init, request.get("uid"))
        if "error" in got:
            if worker:
                self.reap(worker, kill=True)
            return {"error": got["error"]}
        return {"pid": worker}

    def reap(self, pid, kill=True):
        init, uid = self.table.pop(pid, (None, None))
        if kill:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            _, status = os.waitpid(pid, 0)
            reply = _describe(status)
        except ChildProcessError:
            reply = {"signal": None, "code": None}
        if init:
            try:
                os.kill(init, signal.SIGKILL)       # and with it, the whole namespace
                os.waitpid(init, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        elif uid is not None:
            _kill_uid(uid)
        return reply

    def close(self):
        for pid in list(self.table):
            self.reap(pid, kill=True)


def _kill_uid(uid):
    """Every process of a worker's uid (weak mode as root: no PID namespace to end)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                owner = next(int(line.split()[1]) for line in status if line.startswith("Uid:"))
            if owner == uid:
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, StopIteration, ValueError):
            pass


def probe(children, control, keep, uid):
    """The strongest mode in which a worker can really be confined here (each is tried by
    spawning one), and why each stronger one failed."""
    candidates = ("root",) if os.geteuid() == 0 else ("userns",)
    candidates += ("weak",)
    failed = {}
    for mode in candidates:
        workdir = tempfile.mkdtemp(prefix="grader-probe-")
        if mode == "weak" and uid is not None:
            os.chown(workdir, uid, uid)             # as Session does: no namespace copies it
        theirs, ours = socket.socketpair()
        try:
            reply = children.spawn(theirs, {"mode": mode, "workdir": workdir, "keep": keep,
                                            "uid": uid}, control)
            if "pid" in reply:
                children.reap(reply["pid"], kill=True)
                return {"mode": mode, "failed": failed}
            failed[mode] = reply["error"]
        finally:
            theirs.close()
            ours.close()
            shutil.rmtree(workdir, ignore_errors=True)
    if os.geteuid() != 0:
        failed.setdefault("root", "the grader does not run as root")
    return {"mode": None, "failed": failed}


def main():
    """Probe first and say what it found (before the imports: `grader doctor` needs none of
    them, and the grader decides whether to grade while they load), then serve."""
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    control = socket.socket(fileno=int(os.environ["GRADER_ZYGOTE_FD"]))
    children = Children()
    settings = json.loads(os.environ.get("GRADER_ZYGOTE_PROBE", "{}"))
    control.sendall(json.dumps(probe(children, control, settings.get("keep", []),
                                     settings.get("uid"))).encode())
    preloaded = "--no-preload" not in sys.argv
    if preloaded:
        preload()
    while True:
        data, fds, _, _ = socket.recv_fds(control, 1 << 16, 1)
        if not data:
            break
        request = json.loads(data)
        op = request.get("op")
        if op == "spawn":
            if not preloaded:
                preload()
                preloaded = True
            conn = socket.socket(fileno=fds[0])
            reply = children.spawn(conn, request, control)
            conn.close()
        elif op == "reap":
            reply = children.reap(int(request["pid"]), kill=bool(request.get("kill")))
        else:
            reply = {"error": f"unknown op {op!r}"}
        control.sendall(json.dumps(reply).encode())
    children.close()


if __name__ == "__main__":
    sys.exit(main())
