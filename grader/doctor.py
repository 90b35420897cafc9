"""`grader doctor`: which isolation this machine gives the clean room, and what is missing.

`grader autograde` makes the same check before it grades: where no namespaces are available it
refuses (exit 2) unless the instructor opts in with --allow-weak-isolation, and every
submission graded that way says so in its record, the CLI summary and the class report.
"""
from __future__ import annotations

import os
import sys

from .sandbox.confine import describe, machine

ADVICE = {
    "userns": "allow unprivileged user namespaces (sysctl user.max_user_namespaces > 0; "
              "Debian before 11: kernel.unprivileged_userns_clone=1; Ubuntu 24.04: "
              "kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile with "
              "`userns,` for this Python), or run the grader as root",
}
WEAK_FLAG = "--allow-weak-isolation"


class IsolationRefused(Exception):
    """Grading would run without namespaces and the instructor did not opt in."""


def refusal(probed: dict) -> str:
    """One line: why grading is refused here and what to do."""
    why = "; ".join(f"{mode}: {reason}" for mode, reason in probed.get("failed", {}).items())
    return (f"refused: this machine gives the clean room no namespaces ({why}). Run "
            f"`grader doctor` for what to change, or pass {WEAK_FLAG} to grade with rlimits "
            "and the audit hook only (each result then says so)")


def probe() -> dict:
    """What a fork server started now finds (without its imports: a fraction of a second)."""
    from .sandbox.session import ForkServer
    fork_server = ForkServer(preload=False)
    try:
        return fork_server.probed
    finally:
        fork_server.close()


def check(probed: dict, allow_weak: bool) -> str:
    """The isolation grading will use; raises IsolationRefused for weak without consent, and
    where not even weak isolation can start a worker."""
    if probed["mode"] is None:
        why = "; ".join(f"{m}: {r}" for m, r in probed.get("failed", {}).items())
        raise IsolationRefused(f"refused: no worker can be started here ({why})")
    if probed["mode"] == "weak" and not allow_weak:
        raise IsolationRefused(refusal(probed))
    return probed["mode"]


def add_arguments(parser):
    pass


def run(args) -> int:
    probed = probe()
    mode = probed["mode"]
    print(f"machine: {machine()}, Python {sys.version.split()[0]} ({sys.executable})")
    print(f"isolation: {mode or 'none: no worker can start'}")
    if mode is None:
        for failed, reason in probed.get("failed", {}).items():
            print(f"  - {failed}: {reason}")
        return 1
    gives, lacks = describe(mode)
    for line in gives:
        print(f"  + {line}")
    for line in lacks:
        print(f"  - {line}")
    for stronger, reason in probed.get("failed", {}).items():
        print(f"  - {stronger} isolation is not available: {reason}")
    if mode == "weak":
        print(f"grading is refused here unless {WEAK_FLAG} is given. To fix: "
              f"{ADVICE['userns']}.")
        return 1
    print("grading runs in the clean room" + (" as an ordinary user" if os.geteuid() else ""))
    return 0
