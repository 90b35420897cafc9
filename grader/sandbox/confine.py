"""Confine a worker before it runs student code.

Three isolation modes, strongest first; the fork server uses the strongest this machine allows
(`probe`), and grading with "weak" needs the instructor's explicit consent:

- "root" (the grader runs as root): private mount, network, PID, IPC and UTS namespaces, and a
  uid of its own per worker (its files, signals and process count are its own).
- "userns" (an ordinary user, where unprivileged user namespaces are allowed): the same
  namespaces inside a user namespace; the worker keeps the instructor's uid but has no
  capabilities, sees no other process, and can write nothing but its own scratch space.
- "weak" (neither): rlimits and the audit hook only (and a uid of its own as root).

In both namespace modes the worker sees an allow-list view: the system folders, the Python
installation, the repository (read-only, its secrets covered) and a size-bounded tmpfs holding
its copy of the submission; every other folder is an empty tmpfs. It is PID 2 of its own PID
namespace, whose PID 1 (`hold_namespace`) ends when the worker or the fork server ends, and the
kernel then kills whatever else is left in the namespace.
"""
from __future__ import annotations

import ctypes
import os
import platform
import resource
import select
import shutil
import sys

MODES = ("root", "userns", "weak")

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 0x400, 0x800, 0x200000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
# statvfs flags of a mount that a user namespace may not clear on a bind remount
LOCKED_FLAGS = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
                (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
                (os.ST_RELATIME, MS_RELATIME))

#: "processes" counts the tasks of the worker's own uid (or, in a user namespace, of its uid in
#: that namespace), threads included, besides its one checkpoint (a paused copy of itself that
#: a crash resumes from) and, in a user namespace, its namespace's PID 1: with the checkpoint
#: always there, no other fork, clone or thread can start -- also not through the primitives
#: that raise no audit event (_posixsubprocess.fork_exec). The worker needs no thread (BLAS
#: runs with one).
#: "scratch": bytes a worker may write, on top of its copy of the submission.
DEFAULT_LIMITS = {"memory": 3 * 2 ** 30, "cpu": 600, "file_size": 64 * 2 ** 20, "files": 256,
                  "processes": 1, "scratch": 128 * 2 ** 20}

BLOCKED_EVENTS = ("os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn",
                  "os.spawn", "subprocess.Popen", "pty.spawn", "os.kill", "os.killpg",
                  "signal.pthread_kill", "socket.__new__", "socket.connect", "socket.bind",
                  "socket.getaddrinfo", "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle")

# writable scratch folders: each a private tmpfs of its own (SCRATCH_SIZE) in a worker's view
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
SCRATCH_SIZE = 16 * 2 ** 20
# top-level folders a worker may see as they are: the system, nothing of anyone's files
SYSTEM = {"proc", "sys", "dev", "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc"}
# event -> positions of its arguments that are written (created, changed or removed)
PATH_EVENTS = {"os.mkdir": (0,), "os.rmdir": (0,), "os.remove": (0,), "os.rename": (0, 1),
               "os.symlink": (1,), "os.link": (1,), "os.truncate": (0,), "os.chmod": (0,),
               "os.chown": (0,), "os.utime": (0,), "shutil.rmtree": (0,),
               "shutil.copyfile": (1,), "shutil.copytree": (1,), "shutil.move": (0, 1),
               "os.mkfifo": (0,), "os.mknod": (0,)}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
DEVICES = ("/dev/null", "/dev/stdout", "/dev/stderr")


class ConfinementError(OSError):
    """A step of the confinement failed: the worker must not run."""


def _libc():
    return ctypes.CDLL(None, use_errno=True)


WHY = {"unshare": {28: "the limit on user namespaces is 0 here (user.max_user_namespaces)",
                   1: "not permitted here (a sysctl, AppArmor or a container's seccomp policy)"}}


def _check(result, what):
    if result != 0:
        number = ctypes.get_errno()
        why = WHY.get(what, {}).get(number, "")
        raise ConfinementError(number, f"{what}: {os.strerror(number)}" + (f": {why}" if why else ""))


def _mount(libc, source, target, fstype, flags, data=None):
    _check(libc.mount(source.encode() if source else None, target.encode(),
                      fstype.encode() if fstype else None, flags,
                      data.encode() if data else None), f"mount {target}")


def _inside(path, folder):
    return (os.path.realpath(path) + os.sep).startswith(os.path.realpath(folder) + os.sep)


# --- the namespaces (in the fork server's child, before the worker and its PID 1 fork) -------
def unshare(mode):
    """Enter new namespaces: the next child forked is PID 1 of the new PID namespace. In
    "userns" mode (never as root: a worker must not own the system's files) the process's uid
    and gid map to themselves, and nothing else is mapped."""
    if mode == "weak":
        return
    if mode == "userns" and os.geteuid() == 0:
        raise ConfinementError(1, "userns isolation is for ordinary users; root uses root's")
    libc = _libc()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    uid, gid = os.geteuid(), os.getegid()
    _check(libc.unshare(flags | (CLONE_NEWUSER if mode == "userns" else 0)), "unshare")
    if mode == "userns":
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                           ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)


def _drop_capabilities(libc):
    """No capability left, permitted or effective: in a user namespace the worker (and its
    PID 1) would otherwise be able to undo the mounts that hide the instructor's files."""
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    _check(libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")


def close_fds(keep=()):
    """Silence stdin/stdout/stderr and close every other descriptor but `keep`: a forked child
    must hold nothing of the fork server's (its control socket, another worker's socket)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    keep = sorted({0, 1, 2, *keep})
    for low, high in zip(keep, keep[1:] + [os.sysconf("SC_OPEN_MAX")]):
        os.closerange(low + 1, high)


def hold_namespace(mode, fork_server, statuses):
    """PID 1 of a worker's namespace: lives until the fork server kills it (the grading of the
    submission is over) or ends; then the kernel kills every process left in the namespace. It
    reaps what is orphaned in the namespace (a checkpoint whose worker died, and the worker it
    became) and writes "<pid in the namespace> <wait status>" lines to `statuses`, so that the
    fork server can say how a worker it is not the parent of ended."""
    import signal
    libc = _libc()
    close_fds([fork_server, statuses])
    os.set_blocking(statuses, False)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if mode == "userns":
        _drop_capabilities(libc)

    def reap(signum, frame):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            try:
                os.write(statuses, f"{pid} {status}\n".encode())
            except OSError:         # nobody reads (a full pipe): the status is not needed
                pass

    signal.signal(signal.SIGCHLD, reap)
    select.select([fork_server], [], [])
    os._exit(0)


# --- the worker's view of the file system -------------------------------------------------
def _covered():
    """The top-level folders to cover: every non-system one (another checkout of the course,
    someone's home, a data folder, /run with the user's sockets)."""
    return sorted(os.path.join("/", name) for name in os.listdir("/")
                  if name not in SYSTEM and os.path.isdir(os.path.join("/", name))
                  and not os.path.islink(os.path.join("/", name)))


def _locked_flags(path):
    flags = os.statvfs(path).f_flag
    return sum(ms for st, ms in LOCKED_FLAGS if flags & st)


def _view(libc, workdir, hide, keep, scratch, uid):
    """Mount the worker's view (see the module's docstring). Runs in the worker's own mount
    namespace, with the privileges it then drops."""
    _mount(libc, "none", "/", None, MS_REC | MS_PRIVATE)
    _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    kept = []
    for path in sorted({os.path.realpath(p) for p in keep if os.path.isdir(p)}, key=len):
        if not any(_inside(path, k) for k, _ in kept):
            kept.append((path, os.open(path, os.O_PATH | os.O_DIRECTORY)))
    copy = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
    covers = _covered()
    try:
        for path in covers:
            mode = "1777" if path in SCRATCH else "0755"
            _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV,
                   f"mode={mode},size={SCRATCH_SIZE if path in SCRATCH else 2 ** 20}")
        for path in SCRATCH:
            if path in covers or not os.path.isdir(os.path.dirname(path)):
                continue
            if not os.path.isdir(path):
                if not any(_inside(path, c) for c in covers):
                    continue                # e.g. no /dev/mqueue: nothing to cover
                os.makedirs(path, exist_ok=True)
            _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV,
                   f"mode=1777,size={SCRATCH_SIZE}")
        for path, handle in kept:
            os.makedirs(path, exist_ok=True)
            source = f"/proc/self/fd/{handle}"
            flags = _locked_flags(source)
            _mount(libc, source, path, None, MS_BIND | MS_REC)
            _mount(libc, None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags)
        os.makedirs(workdir, exist_ok=True)
        owner = f",uid={uid},gid={uid}" if uid is not None else ""
        _mount(libc, "tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV,
               f"mode=0700,size={scratch}{owner}")
        shutil.copytree(f"/proc/self/fd/{copy}", workdir, symlinks=True, dirs_exist_ok=True)
        if uid is not None:
            for folder, dirs, files in os.walk(workdir):
                for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                    os.chown(name, uid, uid, follow_symlinks=False)
        for path in hide:
            if os.path.isdir(path):
                _mount(libc, "tmpfs", path, "tmpfs", MS_RDONLY, "size=4k")
        for path in covers:
            if path not in SCRATCH:
                _mount(libc, None, path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    finally:
        os.close(copy)
        for _, handle in kept:
            os.close(handle)


def _rlimits(limits):
    for name, value in (("RLIMIT_AS", limits["memory"]), ("RLIMIT_CPU", limits["cpu"]),
                        ("RLIMIT_FSIZE", limits["file_size"]), ("RLIMIT_NOFILE", limits["files"]),
                        ("RLIMIT_CORE", 0)):
        resource.setrlimit(getattr(resource, name), (value, value))


def _audit(workdir, hide, isolated, trusted=()):
    """`trusted`: code objects of the worker's own that may do what is refused to everything
    else (fork its checkpoint, wrap a socket it was passed): an event is let through when one of
    them is among its nearest callers. Replacing such a function's code replaces the object."""
    hidden = tuple(os.path.realpath(p) + os.sep for p in hide)
    home = os.path.realpath(workdir) + os.sep
    trusted = frozenset(trusted)

    def vouched():
        frame = sys._getframe(2)
        for _ in range(3):
            if frame is None:
                return False
            if frame.f_code in trusted:
                return True
            frame = frame.f_back
        return False

    def outside(path):
        path = os.path.realpath(os.fsdecode(path)) if isinstance(path, (str, bytes)) else None
        return path is not None and not (path + os.sep).startswith(home) and path not in DEVICES

    def hook(event, args):
        if event in BLOCKED_EVENTS and not (trusted and vouched()):
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


def proc_status(pid) -> dict | None:
    """The fields of /proc/<pid>/status (name -> text), or None when the process is gone: what
    the grader may read of its workers as an ordinary user too (the ns/ links need ptrace)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return {name: value.strip() for name, value in
                    (line.split(":", 1) for line in status if ":" in line)}
    except OSError:
        return None


def kept_paths(root):
    """What a worker must still reach besides its copy: the repository and every folder Python
    imports from (a virtualenv, the base installation, a user site-packages)."""
    paths = {str(root), sys.prefix, sys.base_prefix}
    paths |= {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    return sorted(p for p in paths if p and os.path.isdir(p) and os.path.realpath(p) != "/")


def confine(workdir, mode, hide=(), limits=None, uid=None, keep=(), trusted=()):
    """Apply every restriction of `mode` to this (freshly forked) process, or raise
    ConfinementError. `keep`: folders the worker must still reach besides its copy; `trusted`:
    see _audit."""
    limits = {**DEFAULT_LIMITS, **(limits or {})}
    libc = _libc()
    os.setsid()
    if mode == "weak":
        libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)      # its parent is the fork server
    else:
        scratch = limits["scratch"] + _size(workdir)
        _view(libc, workdir, hide, keep, scratch, uid if mode == "root" else None)
    os.chdir(workdir)
    _rlimits(limits)
    if os.geteuid() == 0 and uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        if mode == "weak":          # no namespace: file permissions are all that stand between
            readable = [p for p in hide if os.access(p, os.R_OK)]
            if readable:
                raise ConfinementError(13, f"a worker's own uid can read {readable[0]}: with no "
                                       "namespace to hide it, make the secrets readable by "
                                       "their owner only (chmod -R go-rwx)")
            unreadable = [p for p in keep if not os.access(p, os.R_OK | os.X_OK)]
            if unreadable:
                raise ConfinementError(13, f"a worker's own uid cannot read {unreadable[0]} "
                                       "(install Python and the course where other users can "
                                       "read them)")
    processes = limits["processes"] + (mode != "weak") + (mode == "userns")
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    if mode == "userns":
        _drop_capabilities(libc)
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    os.environ.update(HOME=workdir, IPYTHONDIR=os.path.join(workdir, ".ipython"),
                      MPLCONFIGDIR=os.path.join(workdir, ".matplotlib"), MPLBACKEND="Agg")
    _audit(workdir, hide, mode != "weak", trusted)


def _size(folder):
    return sum(os.path.getsize(os.path.join(path, name)) for path, _, names in os.walk(folder)
               for name in names if not os.path.islink(os.path.join(path, name)))


def describe(mode):
    """(what a mode gives, what it lacks), one line each, for `grader doctor`."""
    namespaces = ["mount namespace: only the system, Python and the repository (read-only, "
                  "secrets covered) are visible", "network namespace: no network",
                  "PID namespace: no other process is visible or reachable",
                  "IPC namespace: no shared memory with other processes",
                  f"private size-bounded scratch space (+{DEFAULT_LIMITS['scratch'] >> 20} MiB "
                  "over the submission)"]
    common = ["rlimits: memory, CPU time, file size, open files",
              "audit hook: no process, socket or library loading; writes only in its copy"]
    if mode == "root":
        return namespaces + ["a uid of its own per worker; no other process can start"] + \
            common, []
    if mode == "userns":
        return namespaces + ["user namespace: no capabilities; no other process can start"] + \
            common, ["a uid of its own per worker needs root (workers are kept apart by "
                     "namespaces instead)"]
    return common, ["no namespaces: a worker can see the machine's files and network, and the "
                    "processes of the same user"]


def machine():
    return f"{platform.system()} {platform.release()}, uid {os.geteuid()}"
