"""Which syscalls the probe captures and how it reads each argument: the in-kernel filter's content.

Owns: ``ARG_SPECS`` (per kernel syscall: how each of its six register arguments is captured — a path, a
dirfd-relative path, a string, a sockaddr, a socket's kernel tuple, an fd's path, an ``open_how``) and
``spec_table(event_types)``, the 512-entry table user space writes into the probe's ``specs`` map: a syscall is
captured exactly when its entry is on. The codes match ``probe.bpf.c``.

Must not: talk to the kernel or decode records (``engine.sources.syscall.ebpf.decode`` does).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

from engine.fields.evttypes import SYSCALLS_FOR_EVENT
from engine.sources.syscall.linux_audit.syscalls import X86_64

NR_SPECS = 512
A_PATH, A_PATH_AT, A_STR, A_SOCKADDR, A_SOCK, A_FD, A_OPENHOW, A_MSGHDR = 1, 2, 3, 4, 5, 6, 7, 8
F_ON, F_SOCK_RES, F_EXEC = 1, 2, 4
_ = 0
# Always captured, whatever the rules: the process table follows exec (the kernel's exec record) and chdir.
BASE_SYSCALLS = ("execve", "execveat", "chdir", "fchdir")

ARG_SPECS: Mapping[str, tuple[tuple[int, ...], int]] = {
    "open": ((A_PATH,), 0), "openat": ((_, A_PATH_AT), 0), "openat2": ((_, A_PATH_AT, A_OPENHOW), 0),
    "creat": ((A_PATH,), 0), "execve": ((A_PATH,), F_EXEC), "execveat": ((_, A_PATH_AT), F_EXEC),
    "connect": ((A_SOCK, A_SOCKADDR), 0), "bind": ((A_SOCK, A_SOCKADDR), 0), "listen": ((A_SOCK,), 0),
    "accept": ((), F_SOCK_RES), "accept4": ((), F_SOCK_RES), "sendto": ((A_SOCK, _, _, _, A_SOCKADDR), 0),
    "sendmsg": ((A_SOCK, A_MSGHDR), 0), "recvfrom": ((A_SOCK,), 0), "recvmsg": ((A_SOCK,), 0),
    "symlink": ((A_STR, A_PATH), 0), "symlinkat": ((A_STR, _, A_PATH_AT), 0),
    "link": ((A_PATH, A_PATH), 0), "linkat": ((_, A_PATH_AT, _, A_PATH_AT), 0),
    "rename": ((A_PATH, A_PATH), 0), "renameat": ((_, A_PATH_AT, _, A_PATH_AT), 0),
    "renameat2": ((_, A_PATH_AT, _, A_PATH_AT), 0),
    "unlink": ((A_PATH,), 0), "unlinkat": ((_, A_PATH_AT), 0), "rmdir": ((A_PATH,), 0),
    "mkdir": ((A_PATH,), 0), "mkdirat": ((_, A_PATH_AT), 0), "chmod": ((A_PATH,), 0),
    "fchmodat": ((_, A_PATH_AT), 0), "fchmod": ((A_FD,), 0), "chown": ((A_PATH,), 0), "lchown": ((A_PATH,), 0),
    "fchownat": ((_, A_PATH_AT), 0), "fchown": ((A_FD,), 0), "chdir": ((A_PATH,), 0), "fchdir": ((A_FD,), 0),
    "chroot": ((A_PATH,), 0), "truncate": ((A_PATH,), 0), "access": ((A_PATH,), 0),
    "faccessat": ((_, A_PATH_AT), 0), "faccessat2": ((_, A_PATH_AT), 0), "memfd_create": ((A_STR,), 0),
    "finit_module": ((A_FD, A_STR), 0), "init_module": ((_, _, A_STR), 0), "delete_module": ((A_STR,), 0),
    "mount": ((A_PATH, A_PATH, A_STR), 0), "umount2": ((A_PATH,), 0), "setns": ((A_FD,), 0),
    "dup": ((A_FD,), 0), "dup2": ((A_FD,), 0), "dup3": ((A_FD,), 0),
}


def syscall_names(event_types: Iterable[str]) -> frozenset[str]:
    """Kernel syscalls behind Falco event types (pseudo events such as ``procexit`` come from tracepoints)."""
    names: set[str] = set(BASE_SYSCALLS)
    for event_type in event_types:
        if event_type == "procexit":
            continue
        names.update(SYSCALLS_FOR_EVENT.get(event_type, ()))
    return frozenset(n for n in names if n in X86_64 and n not in ("exit", "exit_group"))


def encode(name: str) -> bytes:
    """The 8-byte ``struct spec`` for one captured syscall."""
    args, flags = ARG_SPECS.get(name, ((), 0))
    return struct.pack("<6BBB", *(list(args) + [0] * (6 - len(args))), flags | F_ON, 0)


OFF = bytes(8)


def spec_table(event_types: Iterable[str]) -> dict[int, bytes]:
    """Syscall number -> spec for every entry of the probe's table (off entries included, so a reload that
    needs fewer syscalls turns the others off)."""
    on = {X86_64[name]: encode(name) for name in syscall_names(event_types)}
    return {nr: on.get(nr, OFF) for nr in range(NR_SPECS)}
