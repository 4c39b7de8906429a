"""The syscall event-type table: every event name rules may use in ``evt.type``, its arguments, its category.

Owns: ``EVENT_TYPES``, the per-event argument tables (names, types, the flag table that renders them) that
``evt.arg.X`` / ``evt.rawarg.X`` read, ``CATEGORIES`` (``evt.category``) and ``SYSCALLS_FOR_EVENT`` (which
kernel syscalls a backend must capture to produce an event type).

Argument lists follow Falco's exit events (the ones rules see by default; they carry the enter parameters too).
Must not: extract values from events (``engine.fields.evt`` does) or know how a backend captures anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.fields.base import FieldType


@dataclass(frozen=True, slots=True)
class EventArg:
    name: str
    type: FieldType
    table: str | None = None  # flag/enum table in engine.fields.flags used to render the value


# Linux x86_64 syscall names (Falco names each syscall event after its syscall).
_LINUX_SYSCALLS = """
    accept accept4 access acct add_key adjtimex alarm arch_prctl bind bpf brk capget capset chdir chmod
    chown chroot clock_adjtime clock_getres clock_gettime clock_nanosleep clock_settime clone clone3 close
    close_range connect copy_file_range creat delete_module dup dup2 dup3 epoll_create epoll_create1 epoll_ctl
    epoll_pwait epoll_pwait2 epoll_wait eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2
    fadvise64 fallocate fanotify_init fanotify_mark fchdir fchmod fchmodat fchown fchownat fcntl fdatasync
    fgetxattr finit_module flistxattr flock fork fremovexattr fsconfig fsetxattr fsmount fsopen fspick fstat
    fstatfs fsync ftruncate futex futex_waitv futimesat get_mempolicy get_robust_list get_thread_area getcpu
    getcwd getdents getdents64 getegid geteuid getgid getgroups getitimer getpeername getpgid getpgrp getpid
    getppid getpriority getrandom getresgid getresuid getrlimit getrusage getsid getsockname getsockopt gettid
    gettimeofday getuid getxattr init_module inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
    io_cancel io_destroy io_getevents io_pgetevents io_setup io_submit io_uring_enter io_uring_register
    io_uring_setup ioctl ioperm iopl ioprio_get ioprio_set kcmp kexec_file_load kexec_load keyctl kill
    landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lgetxattr link linkat listen
    listxattr llistxattr lookup_dcookie lremovexattr lseek lsetxattr lstat madvise mbind membarrier memfd_create
    memfd_secret migrate_pages mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap modify_ldt mount
    mount_setattr move_mount move_pages mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend
    mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep
    newfstatat open open_by_handle_at open_tree openat openat2 pause perf_event_open personality pidfd_getfd
    pidfd_open pidfd_send_signal pipe pipe2 pivot_root pkey_alloc pkey_free pkey_mprotect poll ppoll prctl
    pread64 preadv preadv2 prlimit64 process_madvise process_mrelease process_vm_readv process_vm_writev
    pselect6 ptrace pwrite64 pwritev pwritev2 quotactl quotactl_fd read readahead readlink readlinkat readv
    reboot recvfrom recvmmsg recvmsg remap_file_pages removexattr rename renameat renameat2 request_key
    restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
    rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min
    sched_getaffinity sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval sched_setaffinity
    sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
    sendfile sendmmsg sendmsg sendto set_mempolicy set_mempolicy_home_node set_robust_list set_thread_area
    set_tid_address setdomainname setfsgid setfsuid setgid setgroups sethostname setitimer setns setpgid
    setpriority setregid setresgid setresuid setreuid setrlimit setsid setsockopt settimeofday setuid setxattr
    shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 socket socketpair splice stat statfs
    statx swapoff swapon symlink symlinkat sync sync_file_range syncfs sysfs sysinfo syslog tee tgkill time
    timer_create timer_delete timer_getoverrun timer_gettime timer_settime timerfd_create timerfd_gettime
    timerfd_settime times tkill truncate umask umount2 uname unlink unlinkat unshare userfaultfd ustat utime
    utimensat utimes vfork vhangup vmsplice wait4 waitid write writev
""".split()  # noqa: SIM905 - one name per word reads better than 350 quoted strings

# Falco's spelling where it differs from the kernel's, mapped to the kernel syscalls behind the event.
_RENAMED: Mapping[str, tuple[str, ...]] = {
    "pread": ("pread64",), "pwrite": ("pwrite64",), "prlimit": ("prlimit64",), "umount": ("umount2",),
    "fstatat": ("newfstatat",), "signalfd": ("signalfd", "signalfd4"), "eventfd": ("eventfd", "eventfd2"),
    "inotify_init": ("inotify_init", "inotify_init1"), "mmap2": (), "stat64": (), "fstat64": (), "lstat64": (),
    "_llseek": (), "socketcall": (), "sigreturn": (), "sigaction": (), "sigprocmask": (), "sigsuspend": (),
    "sigpending": (), "getuid32": (), "geteuid32": (), "getgid32": (), "getegid32": (), "setuid32": (),
    "setgid32": (), "setresuid32": (), "setresgid32": (), "send": ("sendto",), "recv": ("recvfrom",),
    "fadvise64": ("fadvise64",), "umount2": ("umount2",),
}
# Events that are not syscalls: tracepoints and meta events (what a backend must watch, when anything).
PSEUDO_EVENTS: Mapping[str, tuple[str, ...]] = {
    "procexit": ("exit", "exit_group"), "switch": (), "signaldeliver": (), "page_fault": (),
    "container": (), "procinfo": (), "pluginevent": (), "drop": (), "notification": (), "infra": (),
    "cpu_hotplug": (), "k8s": (), "mesos": (), "tracer": (), "scapevent": (), "asyncevent": (),
    "syscall": (), "sysdigevent": (), "useradded": (), "userdeleted": (), "groupadded": (), "groupdeleted": (),
}

EVENT_TYPES: frozenset[str] = frozenset(_LINUX_SYSCALLS) | frozenset(_RENAMED) | frozenset(PSEUDO_EVENTS)

SYSCALLS_FOR_EVENT: Mapping[str, tuple[str, ...]] = {
    **{name: (name,) for name in _LINUX_SYSCALLS}, **_RENAMED, **PSEUDO_EVENTS,
}

_T = {"fd": FieldType.FD, "path": FieldType.FSPATH, "str": FieldType.STRING, "int": FieldType.INT64,
      "uint": FieldType.UINT64, "pid": FieldType.PID, "mode": FieldType.MODE, "flags": FieldType.FLAGS,
      "enum": FieldType.FLAGS, "bytes": FieldType.BYTEBUF, "errno": FieldType.INT64, "tuple": FieldType.STRING,
      "addr": FieldType.STRING, "sig": FieldType.SIGTYPE, "uid": FieldType.UINT32, "list": FieldType.STRING}

# event -> "name:type[/table] ..." (exit event parameters; "res" is the return value).
_ARGS: Mapping[str, str] = {
    "open": "fd:fd name:path flags:flags/file_flags mode:mode/mode dev:uint ino:uint",
    "openat": "fd:fd dirfd:fd name:path flags:flags/file_flags mode:mode/mode dev:uint ino:uint",
    "openat2": "fd:fd dirfd:fd name:path flags:flags/file_flags mode:mode/mode resolve:uint dev:uint ino:uint",
    "creat": "fd:fd name:path mode:mode/mode dev:uint ino:uint",
    "open_by_handle_at": "fd:fd mountfd:fd flags:flags/file_flags path:path dev:uint ino:uint",
    "execve": "res:errno exe:str args:list tid:pid pid:pid ptid:pid cwd:path comm:str env:list tty:int "
              "vpgid:pid loginuid:uid flags:flags/exe cap_inheritable:uint cap_permitted:uint cap_effective:uint "
              "uid:uid gid:uid trusted_exepath:path pgid:pid",
    "execveat": "res:errno dirfd:fd pathname:path flags:flags/exe exe:str args:list tid:pid pid:pid ptid:pid "
                "cwd:path comm:str env:list tty:int loginuid:uid uid:uid gid:uid trusted_exepath:path",
    "clone": "res:pid exe:str args:list tid:pid pid:pid ptid:pid cwd:path comm:str flags:flags/clone uid:uid "
             "gid:uid vtid:pid vpid:pid",
    "clone3": "res:pid exe:str args:list tid:pid pid:pid ptid:pid cwd:path comm:str flags:flags/clone uid:uid "
              "gid:uid vtid:pid vpid:pid",
    "fork": "res:pid exe:str args:list tid:pid pid:pid ptid:pid cwd:path comm:str uid:uid gid:uid",
    "vfork": "res:pid exe:str args:list tid:pid pid:pid ptid:pid cwd:path comm:str uid:uid gid:uid",
    "connect": "res:errno tuple:tuple fd:fd addr:addr",
    "accept": "fd:fd tuple:tuple queuepct:uint queuelen:uint queuemax:uint",
    "accept4": "fd:fd tuple:tuple queuepct:uint queuelen:uint queuemax:uint flags:flags/socket_type_flags",
    "bind": "res:errno addr:addr fd:fd",
    "listen": "res:errno fd:fd backlog:int",
    "socket": "fd:fd domain:enum/socket_family type:enum/socket_type proto:uint",
    "socketpair": "res:errno fd1:fd fd2:fd source:uint peer:uint domain:enum/socket_family "
                  "type:enum/socket_type proto:uint",
    "sendto": "res:errno data:bytes fd:fd size:uint tuple:tuple",
    "sendmsg": "res:errno data:bytes fd:fd size:uint tuple:tuple",
    "recvfrom": "res:errno data:bytes tuple:tuple fd:fd size:uint",
    "recvmsg": "res:errno size:uint data:bytes tuple:tuple msgcontrol:bytes fd:fd",
    "read": "res:errno data:bytes fd:fd size:uint", "write": "res:errno data:bytes fd:fd size:uint",
    "pread": "res:errno data:bytes fd:fd size:uint pos:uint",
    "pwrite": "res:errno data:bytes fd:fd size:uint pos:uint",
    "close": "res:errno fd:fd",
    "chmod": "res:errno filename:path mode:mode/mode",
    "fchmod": "res:errno fd:fd mode:mode/mode",
    "fchmodat": "res:errno dirfd:fd filename:path mode:mode/mode",
    "chown": "res:errno path:path uid:uid gid:uid", "lchown": "res:errno path:path uid:uid gid:uid",
    "fchown": "res:errno fd:fd uid:uid gid:uid",
    "fchownat": "res:errno dirfd:fd pathname:path uid:uid gid:uid flags:flags/at",
    "mkdir": "res:errno path:path mode:mode/mode",
    "mkdirat": "res:errno dirfd:fd path:path mode:mode/mode",
    "rmdir": "res:errno path:path",
    "unlink": "res:errno path:path",
    "unlinkat": "res:errno dirfd:fd name:path flags:flags/at",
    "rename": "res:errno oldpath:path newpath:path",
    "renameat": "res:errno olddirfd:fd oldpath:path newdirfd:fd newpath:path",
    "renameat2": "res:errno olddirfd:fd oldpath:path newdirfd:fd newpath:path flags:flags/rename",
    "link": "res:errno oldpath:path newpath:path",
    "linkat": "res:errno olddir:fd oldpath:path newdir:fd newpath:path flags:flags/at",
    "symlink": "res:errno target:str linkpath:path",
    "symlinkat": "res:errno target:str linkdirfd:fd linkpath:path",
    "ptrace": "res:errno addr:uint data:uint request:enum/ptrace pid:pid",
    "setuid": "res:errno uid:uid", "setgid": "res:errno gid:uid",
    "setresuid": "res:errno ruid:uid euid:uid suid:uid", "setresgid": "res:errno rgid:uid egid:uid sgid:uid",
    "setreuid": "res:errno ruid:uid euid:uid", "setregid": "res:errno rgid:uid egid:uid",
    "setns": "res:errno fd:fd nstype:flags/clone",
    "unshare": "res:errno flags:flags/clone",
    "bpf": "res_or_fd:fd cmd:enum/bpf_cmd",
    "init_module": "res:errno img:bytes length:uint uargs:str",
    "finit_module": "res:errno fd:fd uargs:str flags:flags/module",
    "delete_module": "res:errno name:str flags:uint",
    "userfaultfd": "res:errno flags:flags/uffd",
    "dup": "res:fd oldfd:fd", "dup2": "res:fd oldfd:fd newfd:fd", "dup3": "res:fd oldfd:fd newfd:fd flags:uint",
    "mmap": "res:uint addr:uint length:uint prot:flags/prot flags:flags/mmap fd:fd offset:uint",
    "mprotect": "res:errno addr:uint length:uint prot:flags/prot",
    "memfd_create": "fd:fd name:str flags:flags/memfd",
    "mount": "res:errno dev:path dir:path type:str flags:flags/mount",
    "umount": "res:errno name:path flags:flags/umount", "umount2": "res:errno name:path flags:flags/umount",
    "chdir": "res:errno path:path", "fchdir": "res:errno fd:fd", "chroot": "res:errno path:path",
    "kill": "res:errno pid:pid sig:enum/signal", "tkill": "res:errno tid:pid sig:enum/signal",
    "tgkill": "res:errno pid:pid tid:pid sig:enum/signal",
    "access": "res:errno mode:flags/access name:path",
    "faccessat": "res:errno dirfd:fd pathname:path mode:flags/access",
    "capset": "res:errno cap_inheritable:uint cap_permitted:uint cap_effective:uint",
    "pipe": "res:errno fd1:fd fd2:fd ino:uint", "pipe2": "res:errno fd1:fd fd2:fd ino:uint flags:uint",
    "ioctl": "res:errno fd:fd request:uint argument:uint",
    "prctl": "res:errno option:uint arg2_str:str arg2_int:int",
    "setsid": "res:pid", "setpgid": "res:errno pid:pid pgid:pid",
    "procexit": "status:int ret:int sig:enum/signal core:uint reaper_tid:pid",
    "signaldeliver": "spid:pid dpid:pid sig:enum/signal",
    "container": "json:str",
    "switch": "next:pid pgft_maj:uint pgft_min:uint vm_size:uint vm_rss:uint vm_swap:uint",
    "io_uring_setup": "res:errno entries:uint sq_entries:uint cq_entries:uint flags:uint",
    "pidfd_getfd": "fd:fd pid_fd:fd target_fd:fd flags:uint",
    "pidfd_open": "fd:fd pid:pid flags:uint",
    "process_vm_readv": "res:errno pid:pid data:bytes", "process_vm_writev": "res:errno pid:pid data:bytes",
    "sendfile": "res:errno out_fd:fd in_fd:fd offset:uint size:uint",
    "splice": "res:errno fd_in:fd fd_out:fd size:uint flags:uint",
    "truncate": "res:errno path:path length:uint", "ftruncate": "res:errno fd:fd length:uint",
    "quotactl": "res:errno cmd:uint special:path id:uint",
}


def _parse(spec: str) -> tuple[EventArg, ...]:
    out: list[EventArg] = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        kind, _, table = kind.partition("/")
        out.append(EventArg(name, _T[kind], table or None))
    return tuple(out)


EVENT_ARGS: Mapping[str, tuple[EventArg, ...]] = {name: _parse(spec) for name, spec in _ARGS.items()}
EVENT_ARG_BY_NAME: Mapping[str, Mapping[str, EventArg]] = {
    name: {a.name: a for a in args} for name, args in EVENT_ARGS.items()}

_CATEGORY_PREFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("file", ("open", "openat", "openat2", "creat", "close", "read", "write", "pread", "pwrite", "readv", "writev",
              "preadv", "pwritev", "lseek", "llseek", "stat", "fstat", "lstat", "fstatat", "newfstatat", "statx",
              "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link",
              "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown",
              "fchownat", "truncate", "ftruncate", "access", "faccessat", "faccessat2", "readlink", "readlinkat",
              "getdents", "getdents64", "dup", "dup2", "dup3", "fcntl", "flock", "fsync", "fdatasync",
              "sendfile", "splice", "mount", "umount", "umount2", "chdir", "fchdir", "chroot",
              "open_by_handle_at", "memfd_create", "copy_file_range", "inotify_init", "fanotify_init")),
    ("net", ("socket", "socketpair", "connect", "accept", "accept4", "bind", "listen", "sendto", "sendmsg",
             "sendmmsg", "recvfrom", "recvmsg", "recvmmsg", "shutdown", "getsockopt", "setsockopt",
             "getsockname", "getpeername", "send", "recv")),
    ("process", ("execve", "execveat", "clone", "clone3", "fork", "vfork", "procexit", "exit", "exit_group",
                 "kill", "tkill", "tgkill", "ptrace", "setuid", "setgid", "setresuid", "setresgid", "setreuid",
                 "setregid", "setsid", "setpgid", "capset", "prctl", "unshare", "setns", "prlimit", "setrlimit",
                 "process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd")),
    ("memory", ("mmap", "mmap2", "munmap", "mprotect", "brk", "mremap", "madvise", "mlock", "munlock",
                "page_fault", "userfaultfd")),
    ("ipc", ("pipe", "pipe2", "eventfd", "signalfd", "shmget", "shmat", "shmdt", "semop", "semget", "msgget",
             "mq_open")),
    ("signal", ("signaldeliver", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack")),
    ("time", ("nanosleep", "clock_nanosleep", "timerfd_create", "alarm")),
    ("scheduler", ("switch", "sched_yield")),
    ("internal", ("container", "procinfo", "drop", "notification", "infra", "pluginevent", "asyncevent",
                  "cpu_hotplug", "k8s", "mesos", "tracer", "scapevent", "useradded", "userdeleted",
                  "groupadded", "groupdeleted")),
)
CATEGORIES: Mapping[str, str] = {name: cat for cat, names in _CATEGORY_PREFIXES for name in names}


def category(event_type: str) -> str:
    """Falco's ``evt.category`` word for an event type (``other`` when not classified)."""
    return CATEGORIES.get(event_type, "other")
