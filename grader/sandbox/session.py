"""The grader's side of a confined worker: spawn it, talk to it, kill it, say how it died."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .. import course
from . import protocol
from .confine import kept_paths, proc_status
from .endpoint import Died, Endpoint, RemoteError, Timeout
from .gate import Clock, Watcher

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
CHECKPOINT_SECONDS = 20.0       # a fork, or a checkpoint's hello: milliseconds when healthy
BASE_UID = 61000                # workers get uids from here: no two share files or signals

HINTS = {
    "SIGABRT": "a C library aborted on its input (for example an optimizer given a gradient of "
               "the wrong length: compute_loss_grad must return one entry per weight)",
    "SIGSEGV": "the interpreter crashed (ctypes or a C extension misused)",
    "SIGKILL": "killed: it ran out of time or memory",
    "SIGXCPU": "it used up its CPU time",
}


def single_threaded_env(env=None):
    """BLAS with one thread per process: the pool, not BLAS, uses the cores."""
    env = dict(os.environ if env is None else env)
    env.update({name: "1" for name in THREAD_VARS})
    return env


def hidden_paths(extra=()):
    """What a worker must never see: the reference, hidden tests, sources, other students."""
    root = course.ROOT
    return [str(p) for p in (root / "source_layers", root / "grader" / "hidden",
                             course.ASSIGNMENTS_DIR, root / "solutions", root / "tests",
                             root / ".git", course.BUILD, *map(Path, extra)) if p.is_dir()]


WORK_PREFIX = "grader-work-"     # + the grading process's pid: the sweep knows whose it is


def sweep_workdirs(folder=None):
    """Remove the private copies left by grading runs that were killed (SIGKILL skips the
    clean-up); returns how many. A copy whose run is still alive is kept."""
    removed = 0
    for path in Path(folder or tempfile.gettempdir()).glob(f"{WORK_PREFIX}*-*"):
        pid = path.name[len(WORK_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


def worker_uids():
    """Uids for workers as root: unused by anyone, inside what this (maybe user-namespaced)
    root can map, and different from another run's (its leftovers are not ours)."""
    low, high = BASE_UID, BASE_UID + 130000
    try:
        with open("/proc/self/uid_map") as handle:
            ranges = [tuple(map(int, line.split())) for line in handle if line.strip()]
        first, _, length = max(ranges, key=lambda r: r[2])
        if not first <= low < high <= first + length - 1:       # e.g. a container's 65536
            low, high = first + length // 2, first + length - 2
    except (OSError, ValueError):
        pass
    start = low + (os.getpid() * 997) % max(1, (high - low) // 2)
    return iter(range(start, high))


SKIPPED_NAMES = {"__pycache__", ".ipynb_checkpoints"}
COMPILED = (".pyc", ".pyo", ".so", ".pyd", ".dylib", ".dll")
BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def as_utf8(path: Path) -> bool:
    """Rewrite a source file saved as UTF-16 or UTF-32 (with its byte-order mark, as Windows
    editors write it) as UTF-8, the encoding Python reads; True if it was. The notebook is read
    the same way (grader.structure)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    encoding = next((name for bom, name in BOMS if head.startswith(bom)), None)
    if encoding is None:
        return False
    try:
        path.write_text(path.read_bytes().decode(encoding), encoding="utf-8")
    except UnicodeDecodeError:
        return False
    return True


@dataclass
class Spawned:
    """A confined worker: its socket, pid, its namespace's PID 1 (None in weak mode) and the
    side channel on which its checkpoint is told to resume (None: no checkpoints)."""
    sock: socket.socket
    pid: int
    init: int | None
    side: socket.socket | None


def outer_pid(init: int, nspid: int) -> int | None:
    """The pid, as this process sees it, of the process `nspid` of the PID namespace whose
    PID 1 is `init` (a resumed checkpoint tells its own pid only). Read from /proc/<pid>/status
    (NSpid, PPid), which an ordinary user may read of a worker in its own user namespace, where
    /proc/<pid>/ns/ needs ptrace rights it does not have."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            status = _status(int(entry))
            if status and status["NSpid"][-1] == nspid and len(status["NSpid"]) > 1 \
                    and _descends_from(status, init):
                return int(entry)
    return None


def _status(pid: int) -> dict | None:
    """NSpid (a list) and PPid of /proc/<pid>/status, or None when it is gone."""
    fields = proc_status(pid)
    try:
        return {"NSpid": [int(n) for n in fields["NSpid"].split()],
                "PPid": int(fields["PPid"])}
    except (TypeError, KeyError, ValueError):
        return None


def _descends_from(status: dict, init: int, depth: int = 64) -> bool:
    while status and depth:
        if status["PPid"] == init:
            return True
        if status["PPid"] <= 1:
            return False
        status, depth = _status(status["PPid"]), depth - 1
    return False


class IsolationError(RuntimeError):
    """The clean room cannot be set up as asked."""


class ForkServer:
    """The grader's handle on the fork server (the zygote process, grader/sandbox/zygote.py):
    one per grading run; thread-safe. `isolation` is the strongest mode this machine allows
    (grader.sandbox.confine), found by spawning a worker in each."""

    def __init__(self, preload=True):
        sweep_workdirs()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # one message
        self.lock = threading.Lock()
        self.uids = worker_uids()
        self.keep = kept_paths(course.ROOT)
        env = single_threaded_env()
        env["GRADER_ZYGOTE_FD"] = str(theirs.fileno())
        env["GRADER_ZYGOTE_PROBE"] = json.dumps({"keep": self.keep, "uid": self._uid()})
        env["PYTHONPATH"] = os.pathsep.join([str(course.ROOT), env.get("PYTHONPATH", "")])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader.sandbox.zygote"] + ([] if preload else ["--no-preload"]),
            pass_fds=(theirs.fileno(),), env=env, cwd="/", stdout=subprocess.DEVNULL)
        theirs.close()
        self.control = ours
        self._probed = None
        self.mode = None            # what spawn uses; None: the probed mode

    def _ask(self, request, fds=()):
        return self._ask_fds(request, fds)[0]

    def _ask_fds(self, request, fds=()):
        """(the reply, the sockets passed with it)."""
        self.probed                         # read first: it is the first message
        with self.lock:
            socket.send_fds(self.control, [json.dumps(request).encode()], list(fds))
            reply, passed, _, _ = socket.recv_fds(self.control, 1 << 16, 4)
        if not reply:
            raise RuntimeError("the fork server died")
        return json.loads(reply), [socket.socket(fileno=fd) for fd in passed]

    @property
    def probed(self):
        """{"mode": the strongest mode that works here, "failed": {stronger mode: why not}}."""
        with self.lock:
            if self._probed is None:        # the fork server's first message
                reply = self.control.recv(1 << 16)
                if not reply:
                    raise RuntimeError("the fork server died")
                self._probed = json.loads(reply)
        return self._probed

    @property
    def isolation(self):
        return self.mode or self.probed["mode"]

    def _uid(self):
        with self.lock:
            return next(self.uids) if os.geteuid() == 0 else None

    def spawn(self, workdir, hide, limits=None, leash=None):
        mode, uid = self.isolation, self._uid()
        if mode == "weak" and uid is not None:      # no namespace: it reads the copy as `uid`
            os.chown(workdir, uid, uid)
            for path in Path(workdir).rglob("*"):
                os.chown(path, uid, uid, follow_symlinks=False)
        ours, theirs = socket.socketpair()
        try:
            reply, passed = self._ask_fds({"op": "spawn", "mode": mode, "workdir": str(workdir),
                                           "hide": list(hide), "limits": limits or {},
                                           "uid": uid, "keep": self.keep, "leash": leash},
                                          [theirs.fileno()])
        finally:
            theirs.close()
        if "error" in reply:
            ours.close()
            raise IsolationError(f"the clean room could not be set up ({mode} isolation): "
                                 f"{reply['error']}")
        return Spawned(ours, reply["pid"], reply.get("init"), passed[0] if passed else None)

    def adopt(self, pid, nspid, init):
        return "error" not in self._ask({"op": "adopt", "pid": pid, "nspid": nspid,
                                         "init": init})

    def reap(self, pid, kill=True, namespace=False):
        return self._ask({"op": "reap", "pid": pid, "kill": kill, "namespace": namespace})

    def close(self):
        try:
            self.control.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()


class Session:
    """One confined worker with a private copy of one submission."""

    def __init__(self, fork_server: ForkServer, submission: Path, hide=(), limits=None,
                 timeout=10.0, restore=None, leash=None, gate=None, hung=None, clock=None):
        """`leash`: seconds a function that hung gets per later call; `hung`: the submission's
        endpoint.Leash, shared with the workers it had before this one; `clock`: its
        gate.Clock, on which every time limit is measured."""
        self.fork_server = fork_server
        self.source = submission
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-"))
        self.ignored = []           # what is never run: compiled code, special files
        shutil.copytree(submission, self.workdir, dirs_exist_ok=True, symlinks=True,
                        ignore=self._ignore)
        self.dropped_links = []     # never follow a link: it could point at the reference
        for path in sorted(self.workdir.rglob("*")):
            if path.is_symlink():
                self.dropped_links.append(str(path.relative_to(self.workdir)))
                path.unlink()
        self.restored = []          # files the submission lacks, put back from `restore`
        self.transcoded = []        # modules saved as UTF-16/32, read as such
        for name, original in (restore or {}).items():
            if not (self.workdir / name).exists():
                shutil.copyfile(original, self.workdir / name)
                self.restored.append(name)
            elif as_utf8(self.workdir / name):
                self.transcoded.append(name)
        os.chmod(self.workdir, 0o700)
        try:
            spawned = fork_server.spawn(self.workdir, hide, limits, leash)
        except BaseException:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        self.init, self.side = spawned.init, spawned.side
        self.clock = clock or Clock()
        self.timeout, self.hung, self.gate = timeout, hung, gate
        self.interrupts = 0         # interrupts sent (a call ran past its time limit)
        self.checkpoints = 0        # taken, and not yet used
        self._attach(spawned.sock, spawned.pid)

    def _attach(self, sock, pid):
        """Talk to worker `pid` on `sock` (the first one, or a checkpoint resumed)."""
        self.pid = pid
        self.clock.watch(pid)
        self.endpoint = Endpoint(sock, "g", guarded=True)
        self.endpoint.default_timeout = self.timeout
        self.endpoint.clock = self.clock.now
        self.endpoint.past_hangs = self.hung
        self.endpoint.on_died = self._died
        self.endpoint.on_timeout = self.kill
        self.endpoint.on_interrupt = self.interrupt
        if self.gate is not None:   # its core is lent while the worker waits (gate.py)
            watcher = Watcher(self.gate, pid)
            self.endpoint.on_wait = watcher.poll
            self.endpoint.on_done = lambda: self.clock.excluding(watcher.settle)
        self.death = None

    # -- checkpoints ------------------------------------------------------------------------
    def checkpoint(self) -> bool:
        """Have the worker keep a paused copy of itself as it is now (worker.op_checkpoint);
        False where it cannot (weak isolation, or the worker refused)."""
        if self.side is None or not self.alive:
            return False
        try:
            self.request("checkpoint", timeout=CHECKPOINT_SECONDS)
        except (RemoteError, Died, Timeout):    # a death is found by the next request
            return False
        self.checkpoints = 1
        return True

    def resume(self) -> bool:
        """After the worker died or was killed: go on with its last checkpoint as the worker
        (its state when the checkpoint was taken). False when there is none to resume."""
        if self.alive or self.side is None or not self.checkpoints:
            return False
        self.checkpoints = 0
        ours, theirs = socket.socketpair()
        try:
            socket.send_fds(self.side, [b"resume"], [theirs.fileno()])
        except OSError:
            ours.close()
            return False
        finally:
            theirs.close()
        hello = self._hello(ours)
        pid = outer_pid(self.init, hello) if hello is not None else None
        if pid is None or not self.fork_server.adopt(pid, hello, self.init):
            ours.close()
            return False
        self.endpoint.sock.close()
        self._attach(ours, pid)
        self.checkpoints = 1        # a resumed worker keeps a copy of itself at once
        return True

    @staticmethod
    def _hello(sock):
        """The pid (in its namespace) a resumed checkpoint says it has, or None."""
        sock.settimeout(CHECKPOINT_SECONDS)
        try:
            message = protocol.receive(sock, lambda ref: None)
        except (OSError, EOFError, protocol.ProtocolError):
            return None
        nspid = message.get("nspid")
        return nspid if message.get("hello") is True and type(nspid) is int and nspid > 1 \
            else None

    def _ignore(self, folder, names):
        """copytree's filter: what a worker never gets. Compiled code (a `__pycache__` .pyc
        holding working code beside a stub layers.py would be imported instead of the source
        staff read), notebook checkpoints, and anything but files, folders and links."""
        skipped = set()
        for name in names:
            path = os.path.join(folder, name)
            if name in SKIPPED_NAMES or name.endswith(COMPILED):
                skipped.add(name)
            elif not (os.path.islink(path) or os.path.isdir(path) or os.path.isfile(path)):
                skipped.add(name)
        self.ignored += [os.path.relpath(os.path.join(folder, n), self.source) for n in
                         sorted(skipped) if n != ".ipynb_checkpoints"]
        return skipped

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def alive(self):
        return self.death is None

    def _died(self, why=None):
        """How the worker ended; `why`: the grader stopped it for that (a malformed message).
        Its namespace, and so its checkpoint, stays until close()."""
        if self.death is None:
            self.clock.forget(self.pid)
            status = self.fork_server.reap(self.pid, kill=True)
            if why:
                self.death = f"{why}; it was stopped"
            elif status.get("signal"):
                name = status["signal"]
                hint = HINTS.get(name, "")
                self.death = f"crashed: the process was killed by {name}" + \
                    (f" ({hint})" if hint else "")
            else:
                self.death = f"crashed: the process exited (code {status.get('code')})"
        return self.death

    def interrupt(self):
        """Ask the worker to stop the student code it runs (SIGUSR1: worker.Worker._interrupt)."""
        if self.death is not None:
            return False
        try:
            os.kill(self.pid, signal.SIGUSR1)
        except OSError:
            return False
        self.interrupts += 1
        return True

    def kill(self):
        if self.death is None:
            self.clock.forget(self.pid)
            self.fork_server.reap(self.pid, kill=True)
            self.death = "was not run: the process had been stopped after a timeout"

    def request(self, op, timeout=None, **fields):
        if not self.alive:
            raise Died(self.death)
        return self.endpoint.request({"op": op, **fields}, timeout)

    def namespace(self):
        return RemoteNamespace(self)

    def close(self):
        """End the worker, its checkpoint and its namespace."""
        if self.alive:
            try:
                self.endpoint.request({"op": "exit"}, timeout=2)
            except (Timeout, Died, OSError):
                pass
            self.clock.forget(self.pid)
        self.fork_server.reap(self.pid, kill=True, namespace=True)
        self.death = self.death or "closed"
        self.endpoint.sock.close()
        if self.side is not None:
            self.side.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


class RemoteNamespace:
    """The student's names as the checks see them: `name in ns`, `ns[name]`, and layers made
    in the student process (nncheck.remote.StudentNamespace)."""

    def __init__(self, session: Session):
        self.session = session
        self._names = set(session.request("names"))

    def __contains__(self, name):
        return name in self._names

    def __getitem__(self, name):
        if name not in self._names:
            raise KeyError(name)
        return self.session.request("get", name=name)

    def get(self, name, default=None):
        return self[name] if name in self else default

    def keys(self):
        return set(self._names)

    def make_holders(self, arrays_per_layer):
        return self.session.request("holders", arrays=[list(a) for a in arrays_per_layer])

    def resident(self, arrays):
        return self.session.request("resident", arrays=list(arrays))
