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
import time
from dataclasses import dataclass, field

from . import confine as confinement
from .worker import TRUSTED, serve

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


def _worker(conn, request, report, side=None):
    """The forked worker: confine, say so on `report`, then serve the grader (and take
    checkpoints, told on `side` when one must resume)."""
    keep = [conn.fileno(), report] + ([side.fileno()] if side else [])
    confinement.close_fds(keep)     # nothing a student writes reaches the grader's terminal
    try:
        confinement.confine(request["workdir"], request["mode"], request.get("hide", ()),
                            request.get("limits"), request.get("uid"), request.get("keep", ()),
                            trusted=TRUSTED if side else ())
    except BaseException as error:
        _say(report, error=f"{type(error).__name__}: {error}")
        os._exit(70)
    _say(report, ready=True)
    os.close(report)
    try:
        serve(conn, request["workdir"], request.get("leash"), side)
    finally:
        os._exit(0)


def _helper(conn, request, report, side, statuses):
    """Enter the namespaces, fork their PID 1 and the worker, report both pids and exit."""
    try:
        mode = request["mode"]
        fork_server = os.pidfd_open(os.getppid())
        confinement.unshare(mode)
        init = os.fork()
        if init == 0:
            confinement.hold_namespace(mode, fork_server, statuses)
        os.close(statuses)
        os.close(fork_server)
        worker = os.fork()
        if worker == 0:
            _worker(conn, request, report, side)
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


@dataclass
class Namespace:
    """A worker namespace: its PID 1, the pipe on which that reports the processes it reaped
    (pid in the namespace, wait status), its workers' uid as root, and what it reported."""
    init: int
    statuses: int
    uid: int | None
    reaped: dict = field(default_factory=dict)

    def status_of(self, nspid, timeout=10.0):
        """The wait status of a process of the namespace that this server is not the parent
        of (a resumed checkpoint), once PID 1 has reaped it."""
        deadline = time.monotonic() + timeout
        buffer = b""
        while nspid not in self.reaped and time.monotonic() < deadline:
            if not select.select([self.statuses], [], [], deadline - time.monotonic())[0]:
                break
            chunk = os.read(self.statuses, 1 << 16)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                pid, status = map(int, line.split())
                self.reaped[pid] = status
        return self.reaped.pop(nspid, None)

    def end(self):
        """Kill PID 1, and with it every process left in the namespace."""
        try:
            os.kill(self.init, signal.SIGKILL)
            os.waitpid(self.init, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.statuses)


@dataclass
class Entry:
    """A worker: the namespace it lives in (None in weak mode), its uid as root, its pid in the
    namespace, and whether this server is its parent (it is of the first worker only)."""
    namespace: Namespace | None
    uid: int | None
    nspid: int = 2
    child: bool = True


class Children:
    """The workers this server forked or adopted (a checkpoint resumed), by pid."""

    def __init__(self):
        self.table = {}
        self.namespaces = {}        # PID 1 -> Namespace, until the namespace ends

    def spawn(self, conn, request, control):
        """Fork a confined worker for `conn`; the reply carries its pid, its namespace's PID 1
        and (as a passed descriptor) the side channel on which its checkpoints are resumed."""
        read, write = os.pipe()
        side = theirs = None
        if request["mode"] == "weak":
            worker = os.fork()
            if worker == 0:
                control.close()
                os.close(read)
                _worker(conn, request, write)
            os.close(write)
            got = _read_reports(read, {"ready"})
            got.setdefault("pids", [worker, None])
            namespace = None
        else:
            side, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            statuses, status_write = os.pipe()
            helper = os.fork()
            if helper == 0:
                control.close()
                os.close(read)
                side.close()
                os.close(statuses)
                _helper(conn, request, write, theirs, status_write)
            os.close(write)
            os.close(status_write)
            theirs.close()
            got = _read_reports(read, {"ready", "pids"})
            os.waitpid(helper, 0)
            init = got.get("pids", [None, None])[1]
            namespace = Namespace(init, statuses, request.get("uid")) if init else None
            if namespace is None:
                os.close(statuses)
            else:
                self.namespaces[init] = namespace
        os.close(read)
        worker = got.get("pids", [None, None])[0]
        if worker:
            self.table[worker] = Entry(namespace, request.get("uid"))
        if "error" in got:
            if worker:
                self.reap(worker, kill=True, namespace=True)
            if side is not None:
                side.close()
            return {"error": got["error"]}, []
        return {"pid": worker, "init": namespace.init if namespace else None}, \
            [side] if side is not None else []

    def adopt(self, pid, nspid, init):
        """A checkpoint resumed as the worker `pid` (`nspid` in the namespace of PID 1 `init`)."""
        namespace = self.namespaces.get(init)
        if namespace is None:
            return {"error": f"no namespace of PID 1 {init}"}
        self.table[pid] = Entry(namespace, namespace.uid, nspid, child=False)
        return {}

    def reap(self, pid, kill=True, namespace=False):
        """Stop worker `pid` (if `kill`) and say how it ended; with `namespace`, end its
        namespace too, and every process in it (its checkpoint)."""
        entry = self.table.pop(pid, None) or Entry(None, None)
        if kill:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        status = None
        if entry.child:
            try:
                status = os.waitpid(pid, 0)[1]
            except ChildProcessError:
                pass
        elif entry.namespace is not None:
            status = entry.namespace.status_of(entry.nspid)
        reply = _describe(status) if status is not None else {"signal": None, "code": None}
        if namespace and entry.namespace is not None:
            for other, its in list(self.table.items()):
                if its.namespace is entry.namespace:
                    del self.table[other]
            self.namespaces.pop(entry.namespace.init, None)
            entry.namespace.end()
        elif namespace and entry.uid is not None:
            _kill_uid(entry.uid)
        return reply

    def close(self):
        for pid in list(self.table):
            if pid in self.table:
                self.reap(pid, kill=True, namespace=True)
        for namespace in list(self.namespaces.values()):
            namespace.end()


def _kill_uid(uid):
    """Every process of a worker's uid (weak mode as root: no PID namespace to end)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        status = confinement.proc_status(entry) or {}
        try:
            if int(status.get("Uid", "-1").split()[0]) == uid:
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
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
            reply, fds = children.spawn(theirs, {"mode": mode, "workdir": workdir, "keep": keep,
                                                 "uid": uid}, control)
            for fd in fds:
                fd.close()
            if "pid" in reply:
                children.reap(reply["pid"], kill=True, namespace=True)
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
        passed = []
        if op == "spawn":
            if not preloaded:
                preload()
                preloaded = True
            conn = socket.socket(fileno=fds[0])
            reply, passed = children.spawn(conn, request, control)
            conn.close()
        elif op == "adopt":
            reply = children.adopt(int(request["pid"]), int(request["nspid"]),
                                   int(request["init"]))
        elif op == "reap":
            reply = children.reap(int(request["pid"]), kill=bool(request.get("kill")),
                                  namespace=bool(request.get("namespace")))
        else:
            reply = {"error": f"unknown op {op!r}"}
        if passed:
            socket.send_fds(control, [json.dumps(reply).encode()], [f.fileno() for f in passed])
        else:
            control.sendall(json.dumps(reply).encode())
        for f in passed:
            f.close()
    children.close()


if __name__ == "__main__":
    sys.exit(main())
