"""How many submissions compute at once: one per core, and a core whose submission waits is
lent to the next one.

A fixed pool either idles a core while a student's cell sleeps or runs into its time limit
(one job per core), or keeps more processes computing than there are cores (one extra), which
costs CPU time in context switches and cold caches. The gate holds one token per core; a
grading thread holds one while its submission computes, and lends it while the worker answers
nothing and uses no CPU.
"""
from __future__ import annotations

import collections
import os
import threading
import time

IDLE_SHARE = 0.2        # a worker using less of a core than this is waiting, not computing
IDLE_AFTER = 1.0        # ... for this many seconds before its core is lent


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, from /proc (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()      # the name may contain spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_delay(pid: int | str = "self") -> float | None:
    """Seconds a process has waited for a core, runnable but not running (the run-queue delay
    in /proc/<pid>/schedstat; None where the kernel does not say)."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as handle:
            return int(handle.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class Clock:
    """A submission's own time: wall-clock time minus what its workers and its grading thread
    (the one that made the clock) waited for a core, and what that thread waited for a core
    token. Every time limit is measured on it, so that a loop is stopped at the same point of
    its work whether the machine is idle or busy (a sleep counts: it is the student's code
    waiting for itself)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._excluded = 0.0
        self._watched = {}              # worker pid -> its run-queue delay when first watched
        self._thread = f"self/task/{threading.get_native_id()}"
        self._thread_start = run_delay(self._thread) or 0.0

    def watch(self, pid: int):
        delay = run_delay(pid)
        if delay is not None:
            with self._lock:
                self._watched[pid] = delay

    def forget(self, pid: int):
        """Before a worker is reaped: what it waited so far stays excluded."""
        with self._lock:
            start = self._watched.pop(pid, None)
        delay = run_delay(pid) if start is not None else None
        if delay is not None:
            with self._lock:
                self._excluded += delay - start

    def now(self) -> float:
        with self._lock:
            watched = list(self._watched.items())
            excluded = self._excluded
        for pid, start in watched:
            delay = run_delay(pid)
            excluded += (delay - start) if delay is not None else 0.0
        own = run_delay(self._thread)
        excluded += (own - self._thread_start) if own is not None else 0.0
        return time.monotonic() - excluded

    def excluding(self, wait):
        """Run `wait` (waiting for a core token); its time is not the submission's."""
        started = time.monotonic()
        try:
            return wait()
        finally:
            with self._lock:
                self._excluded += time.monotonic() - started


class CoreGate:
    """`cores` tokens, handed out first come first served (a submission that takes its token
    back after lending it goes first: it is half done)."""

    def __init__(self, cores: int):
        self._free = cores
        self._waiting = collections.deque()
        self._lock = threading.Lock()
        self.lent = 0                   # how many times a waiting submission lent its core

    def acquire(self, blocking=True, first=False) -> bool:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return True
            if not blocking:
                return False
            turn = threading.Lock()
            turn.acquire()
            (self._waiting.appendleft if first else self._waiting.append)(turn)
        turn.acquire()                  # release() hands its token over directly
        return True

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def release(self, lending=False):
        with self._lock:
            self.lent += lending
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._free += 1


class Watcher:
    """Follows one worker while its grading thread waits for a reply (`poll`, called by the
    endpoint every fraction of a second): lends the thread's token once the worker has been
    idle for IDLE_AFTER seconds, takes one back when it computes again (if one is free), and
    always before the thread goes on (`settle`)."""

    def __init__(self, gate: CoreGate, pid: int):
        self.gate, self.pid = gate, pid
        self.lending = False
        self._last = None               # (time, cpu seconds) at the previous poll
        self._idle_since = None

    def poll(self):
        """A worker that neither ran nor waited to run (on a busy machine a computing worker
        may get little of a core, but it is runnable all the time) is waiting for itself."""
        now, cpu, delay = time.monotonic(), cpu_seconds(self.pid), run_delay(self.pid)
        if cpu is None:
            return
        cpu += delay or 0.0
        last, self._last = self._last, (now, cpu)
        if last is None or now <= last[0]:
            return
        if cpu - last[1] > IDLE_SHARE * (now - last[0]):      # computing
            self._idle_since = None
            if self.lending and self.gate.acquire(blocking=False):
                self.lending = False
            return
        if self._idle_since is None:
            self._idle_since = last[0]
        if now - self._idle_since >= IDLE_AFTER and not self.lending:
            self.lending = True
            self.gate.release(lending=True)

    def settle(self):
        """Hold a token again (waiting for one if they are all in use)."""
        self._last = self._idle_since = None
        if self.lending:
            self.gate.acquire(first=True)
            self.lending = False
