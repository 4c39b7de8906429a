"""Symbolic names for the bit masks and enumerations syscall arguments carry (``O_*``, ``S_*``, ``PROT_*``...).

Owns: the name tables (Linux x86_64 values, since backends deliver raw kernel values) and rendering a raw value
as Falco shows it in ``evt.arg.X`` (``O_WRONLY|O_CREAT``), so ``evt.arg.flags contains O_CREAT`` works.
Also the capability names ``thread.cap_*`` print.

Must not: know events or fields; ``engine.fields.evttypes`` says which table an argument uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

# A flag table lists (name, value) pairs; a value of 0 is printed only when nothing else matched.
FlagTable = tuple[tuple[str, int], ...]

_O_ACCMODE = 0o3
OPEN_ACCESS: Mapping[int, str] = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}
OPEN_FLAGS: FlagTable = (
    ("O_CREAT", 0o100), ("O_EXCL", 0o200), ("O_NOCTTY", 0o400), ("O_TRUNC", 0o1000), ("O_APPEND", 0o2000),
    ("O_NONBLOCK", 0o4000), ("O_SYNC", 0o4010000), ("O_DSYNC", 0o10000), ("O_ASYNC", 0o20000),
    ("O_DIRECT", 0o40000), ("O_LARGEFILE", 0o100000), ("O_TMPFILE", 0o20200000), ("O_DIRECTORY", 0o200000),
    ("O_NOFOLLOW", 0o400000), ("O_NOATIME", 0o1000000), ("O_CLOEXEC", 0o2000000), ("O_PATH", 0o10000000),
)
MODE_FLAGS: FlagTable = (
    ("S_IXOTH", 0o1), ("S_IWOTH", 0o2), ("S_IROTH", 0o4), ("S_IXGRP", 0o10), ("S_IWGRP", 0o20),
    ("S_IRGRP", 0o40), ("S_IXUSR", 0o100), ("S_IWUSR", 0o200), ("S_IRUSR", 0o400), ("S_ISVTX", 0o1000),
    ("S_ISGID", 0o2000), ("S_ISUID", 0o4000),
)
PROT_FLAGS: FlagTable = (("PROT_NONE", 0), ("PROT_READ", 1), ("PROT_WRITE", 2), ("PROT_EXEC", 4))
MMAP_FLAGS: FlagTable = (
    ("MAP_SHARED", 0x1), ("MAP_PRIVATE", 0x2), ("MAP_FIXED", 0x10), ("MAP_ANONYMOUS", 0x20), ("MAP_32BIT", 0x40),
    ("MAP_GROWSDOWN", 0x100), ("MAP_DENYWRITE", 0x800), ("MAP_EXECUTABLE", 0x1000), ("MAP_LOCKED", 0x2000),
    ("MAP_NORESERVE", 0x4000), ("MAP_POPULATE", 0x8000), ("MAP_NONBLOCK", 0x10000), ("MAP_STACK", 0x20000),
    ("MAP_HUGETLB", 0x40000),
)
CLONE_FLAGS: FlagTable = (
    ("CLONE_VM", 0x100), ("CLONE_FS", 0x200), ("CLONE_FILES", 0x400), ("CLONE_SIGHAND", 0x800),
    ("CLONE_PIDFD", 0x1000), ("CLONE_PTRACE", 0x2000), ("CLONE_VFORK", 0x4000), ("CLONE_PARENT", 0x8000),
    ("CLONE_THREAD", 0x10000), ("CLONE_NEWNS", 0x20000), ("CLONE_SYSVSEM", 0x40000), ("CLONE_SETTLS", 0x80000),
    ("CLONE_PARENT_SETTID", 0x100000), ("CLONE_CHILD_CLEARTID", 0x200000), ("CLONE_DETACHED", 0x400000),
    ("CLONE_UNTRACED", 0x800000), ("CLONE_CHILD_SETTID", 0x1000000), ("CLONE_NEWCGROUP", 0x2000000),
    ("CLONE_NEWUTS", 0x4000000), ("CLONE_NEWIPC", 0x8000000), ("CLONE_NEWUSER", 0x10000000),
    ("CLONE_NEWPID", 0x20000000), ("CLONE_NEWNET", 0x40000000), ("CLONE_IO", 0x80000000),
)
SOCKET_TYPE_FLAGS: FlagTable = (("SOCK_NONBLOCK", 0o4000), ("SOCK_CLOEXEC", 0o2000000))
AT_FLAGS: FlagTable = (("AT_SYMLINK_NOFOLLOW", 0x100), ("AT_REMOVEDIR", 0x200), ("AT_SYMLINK_FOLLOW", 0x400),
                       ("AT_EMPTY_PATH", 0x1000))
RENAME_FLAGS: FlagTable = (("RENAME_NOREPLACE", 1), ("RENAME_EXCHANGE", 2), ("RENAME_WHITEOUT", 4))
MEMFD_FLAGS: FlagTable = (("MFD_CLOEXEC", 1), ("MFD_ALLOW_SEALING", 2), ("MFD_HUGETLB", 4),
                          ("MFD_NOEXEC_SEAL", 8), ("MFD_EXEC", 0x10))
EXE_FLAGS: FlagTable = (("EXE_WRITABLE", 1), ("EXE_UPPER_LAYER", 2), ("EXE_FROM_MEMFD", 4), ("EXE_LOWER_LAYER", 8))
MODULE_FLAGS: FlagTable = (("MODULE_INIT_IGNORE_MODVERSIONS", 1), ("MODULE_INIT_IGNORE_VERMAGIC", 2),
                           ("MODULE_INIT_COMPRESSED_FILE", 4))
MOUNT_FLAGS: FlagTable = (
    ("MS_RDONLY", 1), ("MS_NOSUID", 2), ("MS_NODEV", 4), ("MS_NOEXEC", 8), ("MS_SYNCHRONOUS", 16),
    ("MS_REMOUNT", 32), ("MS_MANDLOCK", 64), ("MS_DIRSYNC", 128), ("MS_NOATIME", 1024), ("MS_NODIRATIME", 2048),
    ("MS_BIND", 4096), ("MS_MOVE", 8192), ("MS_REC", 16384), ("MS_SILENT", 32768), ("MS_POSIXACL", 1 << 16),
    ("MS_UNBINDABLE", 1 << 17), ("MS_PRIVATE", 1 << 18), ("MS_SLAVE", 1 << 19), ("MS_SHARED", 1 << 20),
    ("MS_RELATIME", 1 << 21), ("MS_KERNMOUNT", 1 << 22), ("MS_I_VERSION", 1 << 23), ("MS_STRICTATIME", 1 << 24),
    ("MS_LAZYTIME", 1 << 25),
)
UMOUNT_FLAGS: FlagTable = (("MNT_FORCE", 1), ("MNT_DETACH", 2), ("MNT_EXPIRE", 4), ("UMOUNT_NOFOLLOW", 8))
ACCESS_FLAGS: FlagTable = (("F_OK", 0), ("X_OK", 1), ("W_OK", 2), ("R_OK", 4))
UFFD_FLAGS: FlagTable = (("UFFD_USER_MODE_ONLY", 1), ("O_NONBLOCK", 0o4000), ("O_CLOEXEC", 0o2000000))

SOCKET_FAMILIES: Mapping[int, str] = {
    0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX", 5: "AF_APPLETALK", 6: "AF_NETROM",
    7: "AF_BRIDGE", 8: "AF_ATMPVC", 9: "AF_X25", 10: "AF_INET6", 11: "AF_ROSE", 12: "AF_DECnet",
    13: "AF_NETBEUI", 14: "AF_SECURITY", 15: "AF_KEY", 16: "AF_NETLINK", 17: "AF_PACKET", 18: "AF_ASH",
    19: "AF_ECONET", 20: "AF_ATMSVC", 21: "AF_RDS", 22: "AF_SNA", 23: "AF_IRDA", 24: "AF_PPPOX",
    25: "AF_WANPIPE", 26: "AF_LLC", 27: "AF_IB", 28: "AF_MPLS", 29: "AF_CAN", 30: "AF_TIPC",
    31: "AF_BLUETOOTH", 32: "AF_IUCV", 33: "AF_RXRPC", 34: "AF_ISDN", 35: "AF_PHONET", 36: "AF_IEEE802154",
    37: "AF_CAIF", 38: "AF_ALG", 39: "AF_NFC", 40: "AF_VSOCK", 41: "AF_KCM", 42: "AF_QIPCRTR", 43: "AF_SMC",
    44: "AF_XDP", 45: "AF_MCTP",
}
SOCKET_TYPES: Mapping[int, str] = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM",
                                   5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 10: "SOCK_PACKET"}
PTRACE_REQUESTS: Mapping[int, str] = {
    0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA", 3: "PTRACE_PEEKUSR", 4: "PTRACE_POKETEXT",
    5: "PTRACE_POKEDATA", 6: "PTRACE_POKEUSR", 7: "PTRACE_CONT", 8: "PTRACE_KILL", 9: "PTRACE_SINGLESTEP",
    12: "PTRACE_GETREGS", 13: "PTRACE_SETREGS", 14: "PTRACE_GETFPREGS", 15: "PTRACE_SETFPREGS",
    16: "PTRACE_ATTACH", 17: "PTRACE_DETACH", 18: "PTRACE_GETFPXREGS", 19: "PTRACE_SETFPXREGS",
    24: "PTRACE_SYSCALL", 31: "PTRACE_SYSEMU", 32: "PTRACE_SYSEMU_SINGLESTEP", 0x4200: "PTRACE_SETOPTIONS",
    0x4201: "PTRACE_GETEVENTMSG", 0x4202: "PTRACE_GETSIGINFO", 0x4203: "PTRACE_SETSIGINFO",
    0x4204: "PTRACE_GETREGSET", 0x4205: "PTRACE_SETREGSET", 0x4206: "PTRACE_SEIZE", 0x4207: "PTRACE_INTERRUPT",
    0x4208: "PTRACE_LISTEN", 0x4209: "PTRACE_PEEKSIGINFO",
}
BPF_COMMANDS: Mapping[int, str] = {
    0: "BPF_MAP_CREATE", 1: "BPF_MAP_LOOKUP_ELEM", 2: "BPF_MAP_UPDATE_ELEM", 3: "BPF_MAP_DELETE_ELEM",
    4: "BPF_MAP_GET_NEXT_KEY", 5: "BPF_PROG_LOAD", 6: "BPF_OBJ_PIN", 7: "BPF_OBJ_GET", 8: "BPF_PROG_ATTACH",
    9: "BPF_PROG_DETACH", 10: "BPF_PROG_TEST_RUN", 11: "BPF_PROG_GET_NEXT_ID", 12: "BPF_MAP_GET_NEXT_ID",
    13: "BPF_PROG_GET_FD_BY_ID", 14: "BPF_MAP_GET_FD_BY_ID", 15: "BPF_OBJ_GET_INFO_BY_FD",
    16: "BPF_PROG_QUERY", 17: "BPF_RAW_TRACEPOINT_OPEN", 18: "BPF_BTF_LOAD", 19: "BPF_BTF_GET_FD_BY_ID",
    20: "BPF_TASK_FD_QUERY", 21: "BPF_MAP_LOOKUP_AND_DELETE_ELEM", 22: "BPF_MAP_FREEZE",
    23: "BPF_BTF_GET_NEXT_ID", 24: "BPF_MAP_LOOKUP_BATCH", 25: "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
    26: "BPF_MAP_UPDATE_BATCH", 27: "BPF_MAP_DELETE_BATCH", 28: "BPF_LINK_CREATE", 29: "BPF_LINK_UPDATE",
    30: "BPF_LINK_GET_FD_BY_ID", 31: "BPF_LINK_GET_NEXT_ID", 32: "BPF_ENABLE_STATS", 33: "BPF_ITER_CREATE",
    34: "BPF_LINK_DETACH", 35: "BPF_PROG_BIND_MAP", 36: "BPF_TOKEN_CREATE",
}
SIGNALS: Mapping[int, str] = {
    1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
    9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
    16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
    23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO",
    30: "SIGPWR", 31: "SIGSYS",
}
CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)

# Named tables the event table refers to.
FLAG_TABLES: Mapping[str, FlagTable] = {
    "file_flags": OPEN_FLAGS, "mode": MODE_FLAGS, "prot": PROT_FLAGS, "mmap": MMAP_FLAGS, "clone": CLONE_FLAGS,
    "socket_type_flags": SOCKET_TYPE_FLAGS, "at": AT_FLAGS, "rename": RENAME_FLAGS, "memfd": MEMFD_FLAGS, "exe": EXE_FLAGS,
    "module": MODULE_FLAGS, "mount": MOUNT_FLAGS, "umount": UMOUNT_FLAGS, "access": ACCESS_FLAGS,
    "uffd": UFFD_FLAGS,
}
ENUM_TABLES: Mapping[str, Mapping[int, str]] = {
    "socket_family": SOCKET_FAMILIES, "ptrace": PTRACE_REQUESTS, "bpf_cmd": BPF_COMMANDS, "signal": SIGNALS,
}


def render_flags(value: int, table: FlagTable) -> str:
    """Names of every flag fully set in ``value``, joined by ``|`` (``"O_WRONLY|O_CREAT"``)."""
    names: list[str] = []
    zero_name = ""
    for name, bits in table:
        if bits == 0:
            zero_name = name
        elif value & bits == bits:
            names.append(name)
    if not names:
        return zero_name
    return "|".join(names)


def render_open_flags(value: int) -> str:
    """Open flags: the access mode first (O_RDONLY is 0 in Linux), then every other flag set."""
    access = OPEN_ACCESS.get(value & _O_ACCMODE, "")
    rest = render_flags(value & ~_O_ACCMODE, OPEN_FLAGS)
    if "O_SYNC" in rest.split("|"):  # O_SYNC includes the O_DSYNC bit; print only the stronger one
        rest = "|".join(n for n in rest.split("|") if n != "O_DSYNC")
    return "|".join(p for p in (access, rest) if p)


def render_socket_type(value: int) -> str:
    base = SOCKET_TYPES.get(value & 0xF, str(value & 0xF))
    extra = render_flags(value & ~0xF, SOCKET_TYPE_FLAGS)
    return f"{base}|{extra}" if extra else base


def capability_names(mask: int) -> list[str]:
    """Capability names set in a bit mask, lowest bit first; unknown high bits are printed as numbers."""
    out: list[str] = []
    bit = 0
    while mask >> bit:
        if mask >> bit & 1:
            out.append(CAPABILITIES[bit] if bit < len(CAPABILITIES) else f"CAP_{bit}")
        bit += 1
    return out


@lru_cache(maxsize=4096)
def _render_int(value: int, table: str) -> str:
    if table == "file_flags":
        return render_open_flags(value)
    if table == "socket_type":
        return render_socket_type(value)
    if table in ENUM_TABLES:
        return ENUM_TABLES[table].get(value, str(value))
    return render_flags(value, FLAG_TABLES[table])


def render(value: object, table: str) -> str | None:
    """Render a raw argument with the named table (``file_flags``, ``mode``, ``socket_family``...)."""
    if type(value) is not int:
        return None if value is None else str(value)
    return _render_int(value, table)
