"""What a corpus run's student code may leave behind: processes and files outside the
submission. Found by the run's token (the course directory's parent name), so that concurrent
runs never touch each other's."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

from .cases import MARK, outside_paths


def _read(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stray_processes(token: str) -> dict:
    """Live processes that the student code of corpus run `token` started (they carry its
    cases.MARK in their environment) and that are not a fork server's worker:
    pid -> (uid, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        status = _read(entry / "status")
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        try:
            uid = int(fields["Uid"].split()[0])
            state, ppid = fields["State"].split()[0], int(fields["PPid"])
        except (KeyError, ValueError, IndexError):
            continue
        if state == "Z" or f"{MARK}={token} " not in _read(entry / "environ"):
            continue
        if "grader.sandbox.zygote" in _read(Path(f"/proc/{ppid}/cmdline")):
            continue
        found[int(entry.name)] = (uid, _read(entry / "cmdline")[:200])
    return found


def kill(pids):
    """Stop processes the corpus's student code started (by pid, nothing else)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def remove_outside(token: str):
    for name in outside_paths(token):
        path = Path(name)
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def clean(token: str):
    kill(stray_processes(token))
    remove_outside(token)
