"""Run a command on a simulated machine that allows no namespaces: a user namespace in which
creating further user namespaces is forbidden by the kernel (user.max_user_namespaces = 0) and
the command runs as an ordinary user without capabilities -- what a grader meets where a sysctl,
AppArmor or a container's seccomp policy forbids unprivileged user namespaces.

    python tests/helpers/no_namespaces.py COMMAND [ARG ...]
"""
import ctypes
import os
import sys

CLONE_NEWUSER = 0x10000000


def main(argv):
    uid, gid = os.geteuid(), os.getegid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER) != 0:
        sys.exit(f"no_namespaces: unshare: {os.strerror(ctypes.get_errno())}")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid or 1000} {uid} 1"),
                       ("gid_map", f"{gid or 1000} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)
    with open("/proc/sys/user/max_user_namespaces", "w") as handle:
        handle.write("0")
    os.execvp(argv[0], argv)        # as a non-zero uid: exec drops every capability


if __name__ == "__main__":
    main(sys.argv[1:])
