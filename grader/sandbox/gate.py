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
        now, cpu = time.monotonic(), cpu_seconds(self.pid)
        if cpu is None:
            return
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
