"""When Falco gives a syscall field a value and when it gives ``<NA>``: our own table, for the fields the upstream
rules read, written from Falco's documented field semantics (its field reference and libsinsp's filter checks).

``expected(field, ctx)`` answers True (Falco fills it), False (Falco prints ``<NA>``) or None (this table does not
know: the test counts that as a failure, so the table must grow with the rules). ``Context`` is what the test
knows about an event from the action that caused it, not from our decoding of it: the event type, whether the
call succeeded, what kind of descriptor the action used, how many ancestors the process has, whether it has a
terminal and a login uid. Every action runs on the host (no container), so container and Kubernetes metadata is
what Falco gives a host process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Event types whose Falco events carry a file descriptor (created, used or closed by the call): fd.* fields are
# read from it; on every other event type they are <NA>.
FD_EVENTS = frozenset({"open", "openat", "openat2", "creat", "socket", "bind", "connect", "listen", "accept",
                       "accept4", "sendto", "sendmsg", "recvfrom", "recvmsg", "dup", "dup2", "dup3", "fchmod",
                       "bpf", "setns", "finit_module", "memfd_create"})
OPENS = frozenset({"open", "openat", "openat2", "creat"})

# The descriptor kinds an action uses ("none": the event type has no descriptor).
FILE, DIRECTORY, FAILED_OPEN, INET, INET_SERVER, NEW_SOCKET, UNIX, OTHER, NONE = (
    "file", "directory", "failed-open", "inet", "inet-server", "new-socket", "unix", "other", "none")
SOCKETS = frozenset({INET, INET_SERVER, NEW_SOCKET, UNIX})
IP = frozenset({INET, INET_SERVER, NEW_SOCKET})
WITH_INFO = frozenset({FILE, DIRECTORY, INET, INET_SERVER, NEW_SOCKET, UNIX, OTHER})  # in the fd table

# fd.* field -> the descriptor kinds on which Falco gives it a value.
FD_FILLED: dict[str, frozenset[str]] = {
    "fd.num": WITH_INFO | {FAILED_OPEN},
    "fd.name": WITH_INFO | {FAILED_OPEN},  # a failed open's name comes from its path argument
    "fd.nameraw": WITH_INFO | {FAILED_OPEN},
    "fd.typechar": WITH_INFO | {FAILED_OPEN},
    "fd.directory": frozenset({FILE, DIRECTORY, FAILED_OPEN}),
    "fd.filename": frozenset({FILE}),
    "fd.type": WITH_INFO,
    "fd.connected": WITH_INFO,
    "fd.name_changed": WITH_INFO,
    "fd.sockfamily": SOCKETS,
    "fd.l4proto": IP,  # a file or unix socket has no layer-4 protocol
    # Server end: the peer a client reached, or the address a server socket is bound to.
    "fd.sip": frozenset({INET, INET_SERVER}), "fd.sport": frozenset({INET, INET_SERVER}),
    "fd.snet": frozenset({INET, INET_SERVER}),
    # Either end (filter-only fields).
    "fd.ip": frozenset({INET, INET_SERVER}), "fd.net": frozenset({INET, INET_SERVER}),
    "fd.port": frozenset({INET, INET_SERVER}),
    # Local and remote ends exist only once a socket has a peer.
    "fd.lip": frozenset({INET}), "fd.rip": frozenset({INET}), "fd.lport": frozenset({INET}),
    "fd.rport": frozenset({INET}), "fd.lnet": frozenset({INET}), "fd.rnet": frozenset({INET}),
    "fd.cip": frozenset({INET}), "fd.cport": frozenset({INET}),
    # Names from Falco's DNS cache: only for addresses the process resolved through DNS; our actions use literal
    # loopback addresses, so Falco has none.
    "fd.cip.name": frozenset(), "fd.sip.name": frozenset(), "fd.lip.name": frozenset(), "fd.rip.name": frozenset(),
}

# evt.arg.<name> -> the event types whose Falco event has that argument.
ARGS: dict[str, frozenset[str]] = {
    "name": frozenset({"open", "openat", "openat2", "creat", "unlinkat", "memfd_create"}),
    "path": frozenset({"unlink", "rmdir", "mkdir", "mkdirat", "chdir"}),
    "oldpath": frozenset({"rename", "renameat", "renameat2", "link", "linkat"}),
    "newpath": frozenset({"rename", "renameat", "renameat2", "link", "linkat"}),
    "flags": frozenset({"open", "openat", "openat2", "execve", "execveat", "renameat2", "unlinkat", "linkat",
                        "dup3", "memfd_create", "unshare", "finit_module", "accept4"}),
    "filename": frozenset({"chmod", "fchmodat"}),
    "mode": frozenset({"open", "openat", "openat2", "creat", "chmod", "fchmod", "fchmodat", "mkdir", "mkdirat"}),
    "fd": frozenset({"open", "openat", "openat2", "creat", "fchmod", "connect", "bind", "listen", "accept",
                     "accept4", "sendto", "sendmsg", "recvfrom", "setns", "finit_module", "memfd_create"}),
    "linkpath": frozenset({"symlink", "symlinkat"}),
    "target": frozenset({"symlink", "symlinkat"}),
    "cmd": frozenset({"bpf"}),
    "request": frozenset({"ptrace"}),
    "uid": frozenset({"setuid"}),
    "domain": frozenset({"socket"}),
}

# Fields every event of a known process has (the event itself, the process, its user and group, its
# capabilities, the executable's inode times); container.id is "host" for a host process.
ALWAYS = frozenset({
    "evt.type", "evt.num", "evt.res", "evt.rawres", "evt.args", "evt.is_open_read", "evt.is_open_write",
    "proc.name", "proc.exe", "proc.exepath", "proc.cmdline", "proc.args", "proc.cwd", "proc.env", "proc.tty",
    "proc.vpid", "proc.duration", "proc.is_exe_from_memfd", "proc.is_exe_upper_layer",
    "proc.exe_ino.ctime", "proc.exe_ino.mtime", "proc.exe_ino.ctime_duration_proc_start",
    "thread.cap_effective", "thread.cap_permitted", "user.uid", "user.name", "user.loginuid",
    "group.gid", "group.name", "container.id",
})
# Container and pod metadata: Falco has none for a host process.
HOST_NA = frozenset({"container.image.repository", "container.privileged", "container.start_ts", "k8s.ns.name"})
PARENT = frozenset({"proc.pname", "proc.pexe", "proc.pexepath", "proc.pcmdline"})
_ANCESTOR = re.compile(r"proc\.(aname|aexe|aexepath)(?:\[(\d+)\])?$")


@dataclass(frozen=True)
class Context:
    type: str
    fd_kind: str  # one of the kinds above
    ancestors: int  # how many ancestors the process has (pid 1 included)
    loginuid_set: bool
    session_leader_known: bool  # the session leader is the process or one of its ancestors


def expected(field: str, ctx: Context) -> bool | None:
    """Does Falco give ``field`` a value on an event of this context (None: the table does not say)?"""
    if field in ALWAYS:
        return True
    if field in HOST_NA:
        return False
    if field in PARENT:
        return ctx.ancestors >= 1
    if field == "user.loginname":
        return ctx.loginuid_set
    if field == "proc.sname":  # found by walking up the parent chain; none when the leader is not on it
        return ctx.session_leader_known
    ancestor = _ANCESTOR.match(field)
    if ancestor:
        depth = ancestor.group(2)
        return ctx.ancestors >= (int(depth) if depth is not None else 1)
    if field.startswith("evt.arg."):
        types = ARGS.get(field[len("evt.arg."):])
        return None if types is None else ctx.type in types
    if field in FD_FILLED:
        return ctx.type in FD_EVENTS and ctx.fd_kind in FD_FILLED[field]
    return None
