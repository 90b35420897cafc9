"""Confine the current (freshly forked) process before it runs student code.

As root: private mount and network namespaces (no network; only the system folders, the Python
installation, the repository and the worker's copy of the submission are visible, and inside
the repository the reference, the hidden tests and the sources are covered), a uid of its own
(files, signals and the process limit then apply: no other process or thread can start), rlimits on memory, CPU, file size and open
files, and an audit hook that refuses to start processes or open sockets. Without root the
namespaces and uid are skipped and the audit hook also refuses to open the hidden paths.
"""
from __future__ import annotations

import ctypes
import os
import resource
import sys

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_BIND, MS_REC, MS_PRIVATE = 0x1, 0x1000, 0x4000, 0x40000
MNT_DETACH = 0x2

#: "processes" counts the tasks of the worker's own uid, threads included: 1 is the worker itself,
#: so no fork, clone or thread can start -- also not through the primitives that raise no audit
#: event (_posixsubprocess.fork_exec, behind multiprocessing's spawn and forkserver). The worker
#: needs no thread (BLAS runs with one).
DEFAULT_LIMITS = {"memory": 3 * 2 ** 30, "cpu": 600, "file_size": 64 * 2 ** 20, "files": 256,
                  "processes": 1}

BLOCKED_EVENTS = ("os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn",
                  "os.spawn", "subprocess.Popen", "pty.spawn", "os.kill", "os.killpg",
                  "signal.pthread_kill", "socket.__new__", "socket.connect", "socket.bind",
                  "socket.getaddrinfo", "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle")


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _mount(libc, source, target, fstype, flags, data=None):
    if libc.mount(source.encode() if source else None, target.encode(),
                  fstype.encode() if fstype else None, flags,
                  data.encode() if data else None) != 0:
        raise OSError(ctypes.get_errno(), f"mount {source} {target}")


SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
# top-level folders a worker may see as they are: the system, nothing of anyone's files
SYSTEM = {"proc", "sys", "dev", "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc",
          "run"}
# event -> positions of its arguments that are written (created, changed or removed)
PATH_EVENTS = {"os.mkdir": (0,), "os.rmdir": (0,), "os.remove": (0,), "os.rename": (0, 1),
               "os.symlink": (1,), "os.link": (1,), "os.truncate": (0,), "os.chmod": (0,),
               "os.chown": (0,), "os.utime": (0,), "shutil.rmtree": (0,),
               "shutil.copyfile": (1,), "shutil.copytree": (1,), "shutil.move": (0, 1),
               "os.mkfifo": (0,), "os.mknod": (0,)}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
DEVICES = ("/dev/null", "/dev/stdout", "/dev/stderr")


def _inside(path, folder):
    return (os.path.realpath(path) + os.sep).startswith(os.path.realpath(folder) + os.sep)


def _covered():
    """Every folder to cover: the non-system top-level folders (another checkout of the course,
    someone's home, a data folder) and the shared scratch folders."""
    top = [os.path.join("/", name) for name in os.listdir("/") if name not in SYSTEM
           and os.path.isdir(os.path.join("/", name)) and not os.path.islink(os.path.join("/", name))]
    return sorted(set(top) | {p for p in SCRATCH if os.path.isdir(p)}, key=len)


def _allow_list(libc, keep):
    """Show the worker only the system, the Python installation, the repository and its own
    copy of the submission. Everything else outside the system folders is covered by an empty
    tmpfs (world-writable for the scratch folders, so what it writes there stays private), and
    the kept folders are bound back at their paths."""
    covered = _covered()
    wanted = []
    for path in sorted({os.path.realpath(p) for p in keep}, key=len):
        if any(_inside(path, c) for c in covered) and not any(_inside(path, w) for w, _ in wanted):
            wanted.append((path, os.open(path, os.O_PATH | os.O_DIRECTORY)))
    try:
        for path in covered:
            if any(_inside(path, c) for c in covered if c != path):
                continue                        # /var/tmp lies under /var: covered with it
            mode = "1777" if path in SCRATCH else "0755"
            _mount(libc, "tmpfs", path, "tmpfs", 0, f"mode={mode},size=256m")
        for path in SCRATCH:                     # a scratch folder under a covered one
            if os.path.isdir(os.path.dirname(path)) and not os.path.isdir(path) \
                    and any(_inside(path, c) for c in covered):
                os.makedirs(path, mode=0o1777, exist_ok=True)
                os.chmod(path, 0o1777)
        for path, handle in wanted:
            os.makedirs(path, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC)
    finally:
        for _, handle in wanted:
            os.close(handle)


def _namespaces(hide, keep):
    libc = _libc()
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    _allow_list(libc, keep)
    for path in hide:
        if os.path.isdir(path) and libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_RDONLY,
                                              b"size=4k") != 0:
            raise OSError(ctypes.get_errno(), f"hide {path}")


def _rlimits(limits):
    for name, value in (("RLIMIT_AS", limits["memory"]), ("RLIMIT_CPU", limits["cpu"]),
                        ("RLIMIT_FSIZE", limits["file_size"]), ("RLIMIT_NOFILE", limits["files"]),
                        ("RLIMIT_CORE", 0)):
        resource.setrlimit(getattr(resource, name), (value, value))


def _audit(workdir, hide, isolated):
    hidden = tuple(os.path.realpath(p) + os.sep for p in hide)
    home = os.path.realpath(workdir) + os.sep

    def outside(path):
        path = os.path.realpath(os.fsdecode(path)) if isinstance(path, (str, bytes)) else None
        return path is not None and not (path + os.sep).startswith(home) and path not in DEVICES

    def hook(event, args):
        if event in BLOCKED_EVENTS:
            raise PermissionError(f"{event} is not allowed while grading")
        if event in PATH_EVENTS:
            for position in PATH_EVENTS[event]:
                if position < len(args) and outside(args[position]):
                    raise PermissionError(f"{event} outside the submission folder is not "
                                          "allowed while grading")
        if event == "open" and args and isinstance(args[0], (str, bytes)):
            path = os.path.realpath(os.fsdecode(args[0]))
            if not isolated and (path + os.sep).startswith(hidden):
                raise PermissionError(f"{path} is not readable while grading")
            mode = args[1] if len(args) > 1 else None
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                bool(flags & WRITE_FLAGS)
            if writing and outside(path):
                raise PermissionError(f"writing {path} is not allowed: only the submission "
                                      "folder is writable")

    sys.addaudithook(hook)


def confine(workdir, hide=(), limits=None, uid=None, keep=()):
    """Apply every restriction that this machine allows; returns the list of those skipped.
    `keep`: folders the worker must still reach (besides its copy and the Python it runs)."""
    limits = {**DEFAULT_LIMITS, **(limits or {})}
    skipped = []
    os.setsid()
    isolated = False
    if os.geteuid() == 0:
        try:
            _namespaces(hide, [workdir, sys.prefix, sys.base_prefix, *keep])
            isolated = True
        except OSError as error:
            skipped.append(f"namespaces ({error})")
    else:
        skipped.append("namespaces (not root)")
    os.chdir(workdir)
    _rlimits(limits)
    if os.geteuid() == 0 and uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    elif os.geteuid() == 0:
        skipped.append("separate uid")
    os.environ.update(HOME=workdir, IPYTHONDIR=os.path.join(workdir, ".ipython"),
                      MPLCONFIGDIR=os.path.join(workdir, ".matplotlib"), MPLBACKEND="Agg")
    _audit(workdir, hide, isolated)
    return skipped
