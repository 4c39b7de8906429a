"""The actions of the field-filling test (``test_live_ebpf_fields``), one forked child per step.

Run as ``python fill_actions.py WORKDIR``: each step runs in a child of its own (so its events are told apart
by pid) and the script prints one JSON object, step name -> that child's pid. Every syscall is made through
``libc.syscall`` with its x86-64 number, so the event type is the one named here and not whatever libc or
Python picks. The actions change nothing outside WORKDIR and the step's own process (a UTS namespace of its own
for ``unshare``, ``setuid`` to the uid it already has, an attach to its own sleeping child for ``ptrace``).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

LIBC = ctypes.CDLL(None, use_errno=True)
NR = {"open": 2, "creat": 85, "openat": 257, "openat2": 437, "rename": 82, "renameat": 264, "renameat2": 316,
      "link": 86, "linkat": 265, "symlink": 88, "symlinkat": 266, "unlink": 87, "unlinkat": 263, "rmdir": 84,
      "mkdir": 83, "chmod": 90, "fchmod": 91, "fchmodat": 268, "setuid": 105, "ptrace": 101, "dup": 32,
      "dup2": 33, "dup3": 292, "bpf": 321, "setns": 308, "unshare": 272, "init_module": 175,
      "finit_module": 313, "accept": 43, "memfd_create": 319, "execveat": 322}
AT_FDCWD = -100
CLONE_NEWUTS = 0x04000000
AT_EMPTY_PATH = 0x1000


def sys_(name: str, *args: object) -> int:
    cargs = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return int(LIBC.syscall(ctypes.c_long(NR[name]), *cargs))


def b(path: Path | str) -> bytes:
    return os.fsencode(str(path))


def files(work: Path) -> None:
    os.close(sys_("open", b("/etc/hostname"), os.O_RDONLY))
    os.close(sys_("openat", AT_FDCWD, b(work / "written"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
    how = struct.pack("<3Q", os.O_RDONLY, 0, 0)
    os.close(sys_("openat2", AT_FDCWD, b("/etc/passwd"), how, len(how)))
    how = struct.pack("<3Q", os.O_WRONLY | os.O_CREAT, 0o600, 0)
    os.close(sys_("openat2", AT_FDCWD, b(work / "written2"), how, len(how)))
    os.close(sys_("creat", b(work / "created"), 0o600))
    os.close(sys_("open", b(work), os.O_RDONLY | os.O_DIRECTORY))
    sys_("open", b(work / "missing"), os.O_RDONLY)  # fails: ENOENT
    sys_("chmod", b(work / "created"), 0o640)
    d = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    sys_("fchmodat", d, b"created", 0o600)
    fd = os.open(work / "written", os.O_WRONLY)
    sys_("fchmod", fd, 0o600)
    for copy in (sys_("dup", fd), sys_("dup2", fd, 50), sys_("dup3", fd, 51, os.O_CLOEXEC)):
        os.close(copy)
    os.close(fd)
    sys_("rename", b(work / "created"), b(work / "renamed"))
    sys_("renameat", d, b"renamed", d, b"renamed-at")
    sys_("renameat2", d, b"renamed-at", d, b"renamed-at2", 0)
    sys_("link", b(work / "renamed-at2"), b(work / "hard"))
    sys_("linkat", d, b"hard", d, b"hard-at", 0)
    sys_("symlink", b("/etc/hostname"), b(work / "soft"))
    sys_("symlinkat", b("/etc/hostname"), d, b"soft-at")
    for name in ("hard", "soft"):
        sys_("unlink", b(work / name))
    sys_("unlinkat", d, b"soft-at", 0)
    sys_("mkdir", b(work / "sub"), 0o755)
    sys_("rmdir", b(work / "sub"))
    os.close(d)


def process(work: Path) -> None:
    sys_("setuid", os.getuid())
    child = os.fork()
    if child == 0:
        time.sleep(5)
        os._exit(0)
    if sys_("ptrace", 16, child, 0, 0) == 0:  # PTRACE_ATTACH
        os.waitpid(child, 0)
        sys_("ptrace", 17, child, 0, 0)  # PTRACE_DETACH
    os.kill(child, 9)
    os.waitpid(child, 0)
    attr = struct.pack("<5I", 2, 4, 4, 1, 0)  # BPF_MAP_TYPE_ARRAY, key 4, value 4, 1 entry
    buf = ctypes.create_string_buffer(attr, 64)
    fd = sys_("bpf", 0, buf, 64)  # BPF_MAP_CREATE
    if fd >= 0:
        os.close(fd)
    fd = os.open("/proc/self/ns/uts", os.O_RDONLY)
    sys_("setns", fd, CLONE_NEWUTS)
    os.close(fd)
    sys_("unshare", CLONE_NEWUTS)
    (work / "not-a-module").write_bytes(b"not an ELF module")
    fd = os.open(work / "not-a-module", os.O_RDONLY)
    sys_("finit_module", fd, b"", 0)  # refused: not a module
    os.close(fd)
    sys_("init_module", None, 0, b"")  # refused: empty image


def execs(work: Path) -> None:
    child = os.fork()
    if child == 0:
        os.execv(shutil.which("cat") or "cat", ["cat", "/etc/shadow"])
    os.waitpid(child, 0)
    true = shutil.which("true") or "true"
    child = os.fork()
    if child == 0:
        argv = (ctypes.c_char_p * 3)(b"true", b"via-fd", None)
        envp = (ctypes.c_char_p * 2)(b"PATH=/usr/bin:/bin", None)
        # A refused call is an execveat event; a successful one is reported as execve, by Falco too (the
        # kernel's syscall exit after the new image is loaded says execve).
        sys_("execveat", -1, b"missing", argv, envp, 0)
        sys_("execveat", os.open(true, os.O_RDONLY), b"", argv, envp, AT_EMPTY_PATH)
        os._exit(127)
    os.waitpid(child, 0)
    child = os.fork()
    if child == 0:
        fd = sys_("memfd_create", b"fileless", 0)
        os.write(fd, Path(true).read_bytes())
        os.execve(fd, ["true", "from-memfd"], dict(os.environ))
    os.waitpid(child, 0)
    script = shutil.which("script")
    if script:  # a command with a terminal: script runs it on a new pty
        child = os.fork()
        if child == 0:
            os.execv(script, ["script", "-qec", "cat /etc/hostname", "/dev/null"])
        os.waitpid(child, 0)


def _exchange(family: int, host: str) -> None:
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind((host, 0))
    server.listen(2)
    port = server.getsockname()[1]
    for accept4 in (True, False):
        client = socket.socket(family, socket.SOCK_STREAM)
        client.connect((host, port))
        if accept4:
            conn, _ = server.accept()
        else:
            conn = socket.socket(fileno=sys_("accept", server.fileno(), None, None))
        client.send(b"ping")
        conn.recv(4)
        conn.close()
        client.close()
    server.close()
    udp = socket.socket(family, socket.SOCK_DGRAM)
    udp.bind((host, 0))
    sender = socket.socket(family, socket.SOCK_DGRAM)
    sender.sendto(b"ping", udp.getsockname()[:2])
    udp.recvfrom(4)
    sender.sendmsg([b"pong"], [], 0, udp.getsockname()[:2])
    sender.connect(udp.getsockname()[:2])  # a connected datagram socket: the peer is the socket's own
    sender.send(b"again")
    sender.close()
    udp.close()


def inet4(work: Path) -> None:
    _exchange(socket.AF_INET, "127.0.0.1")


def inet6(work: Path) -> None:
    _exchange(socket.AF_INET6, "::1")


def unix(work: Path) -> None:
    path = str(work / "unix.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    conn, _ = server.accept()
    client.send(b"ping")
    conn.recv(4)
    for s in (conn, client, server):
        s.close()


STEPS: dict[str, Callable[[Path], None]] = {"files": files, "process": process, "execs": execs, "inet4": inet4,
                                            "inet6": inet6, "unix": unix}


def main() -> None:
    work = Path(sys.argv[1])
    pids = {}
    for name, step in STEPS.items():
        child = os.fork()
        if child == 0:
            code = 0
            try:
                step(work)
            except BaseException as exc:  # noqa: BLE001 - reported to the test on stderr
                print(f"{name}: {exc!r}", file=sys.stderr, flush=True)
                code = 1
            os._exit(code)
        _, status = os.waitpid(child, 0)
        pids[name] = child if os.waitstatus_to_exitcode(status) == 0 else -child
    print(json.dumps(pids), flush=True)


if __name__ == "__main__":
    main()
