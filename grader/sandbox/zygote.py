"""A fork server: imports numpy, scipy, scikit-learn, matplotlib and IPython once, then forks a
confined worker per request, so a worker starts in milliseconds instead of ~1 s of imports.

It never imports the reference or the hidden tests, so a forked worker has none in memory.
Protocol (over the socket whose fd is in $GRADER_ZYGOTE_FD): one JSON request per message,
the worker's socket passed with SCM_RIGHTS on "spawn"; one JSON reply per message.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import traceback

from .confine import confine
from .worker import serve

HEAVY = ("numpy", "scipy.optimize", "scipy.special", "sklearn.datasets",
         "sklearn.model_selection", "sklearn.metrics", "matplotlib", "matplotlib.pyplot",
         "IPython.core.interactiveshell", "IPython.utils.capture",
         "IPython.extensions.autoreload", "matplotlib_inline.backend_inline")


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


def _child(conn, request):
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):            # nothing a student writes reaches the grader's terminal
        os.dup2(null, fd)
    try:
        confine(request["workdir"], request.get("hide", ()), request.get("limits"),
                request.get("uid"), request.get("keep", ()))
    except BaseException:
        traceback.print_exc()
        os._exit(70)
    try:
        serve(conn, request["workdir"], request.get("leash"))
    finally:
        os._exit(0)


def _kill_uid(uid):
    """Every process of a worker's uid: what it started around the audit hook dies with it."""
    if uid is None:
        return
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


def main():
    preload()
    control = socket.socket(fileno=int(os.environ["GRADER_ZYGOTE_FD"]))
    children = {}
    while True:
        data, fds, _, _ = socket.recv_fds(control, 1 << 16, 1)
        if not data:
            break
        request = json.loads(data)
        op = request.get("op")
        if op == "spawn":
            conn = socket.socket(fileno=fds[0])
            pid = os.fork()
            if pid == 0:
                control.close()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                _child(conn, request)
            conn.close()
            children[pid] = request.get("uid")
            reply = {"pid": pid}
        elif op == "reap":
            pid = int(request["pid"])
            if request.get("kill"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                _, status = os.waitpid(pid, 0)
                reply = _describe(status)
            except ChildProcessError:
                reply = {"signal": None, "code": None}
            _kill_uid(children.pop(pid, None))
        else:
            reply = {"error": f"unknown op {op!r}"}
        control.sendall(json.dumps(reply).encode())
    for pid, uid in children.items():
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
        _kill_uid(uid)


if __name__ == "__main__":
    sys.exit(main())
