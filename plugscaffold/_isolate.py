"""Isolation for worker scripts that run code plugscaffold did not write (standard library only).

The homework grader's worker and ``plugscaffold add``'s probe worker load this file by its
path (they import nothing from plugscaffold). :func:`isolate` caps the address space, forbids
core files and large files, and cuts the network: a new user and network namespace when the
kernel allows one (then no process the worker starts has a network either); the audit hook
from :func:`socket_guard` refuses sockets in the worker itself in any case. The parent starts
the worker in its own session (process group), so a time limit kills everything it started.
"""

import ctypes
import os
import resource

CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
BLOCKED = (
    "socket.__new__",
    "socket.connect",
    "socket.bind",
    "socket.getaddrinfo",
    "socket.sendto",
    "socket.sendmsg",
)


def isolate(memory_mb):
    """Cap memory, no core files, no network; say how the network was cut (POSIX; Linux for the namespace)."""
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**30, 2**30))
    network = "audit hook (Python sockets refused in the worker only)"
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if hasattr(libc, "unshare") and libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        try:
            for name, text in (
                ("setgroups", "deny"),
                ("uid_map", f"{uid} {uid} 1"),
                ("gid_map", f"{gid} {gid} 1"),
            ):
                with open(f"/proc/self/{name}", "w") as handle:
                    handle.write(text)
        except OSError:
            pass  # unmapped ids still work for the files this process owns
        network = "network namespace (no interface but a down loopback, for the worker and its children)"
    return network


def socket_guard(while_doing):
    """An audit hook (for ``sys.addaudithook``) that refuses Python sockets ``while_doing``."""

    def refuse_sockets(event, _args):
        if event in BLOCKED:
            raise PermissionError(f"network access is not allowed while {while_doing} ({event})")

    return refuse_sockets
