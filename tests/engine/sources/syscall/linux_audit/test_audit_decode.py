"""Decoding grouped audit records into SyscallEvents the way Falco presents the arguments (no kernel needed)."""

from __future__ import annotations

from engine.events.syscall import ContainerInfo, ProcessInfo
from engine.sources.syscall.linux_audit.decode import Decoder
from engine.sources.syscall.linux_audit.records import (
    AUDIT_CWD,
    AUDIT_EOE,
    AUDIT_EXECVE,
    AUDIT_OPENAT2,
    AUDIT_PATH,
    AUDIT_SOCKADDR,
    AUDIT_SYSCALL,
    Assembler,
    Group,
    parse_record,
)
from engine.state.proctable import ProcessTable

PROCS = {
    42: ProcessInfo(pid=42, ppid=10, name="cat", container_id="0123456789ab"),
    10: ProcessInfo(pid=10, ppid=1, name="bash"),
    1: ProcessInfo(pid=1, ppid=0, name="systemd"),
}


def group(syscall: int, args: str, *extra: tuple[int, str], exit_code: str = "3") -> Group:
    asm = Assembler()
    head = "audit(1700000000.500:77): "
    asm.add(parse_record(AUDIT_SYSCALL, (head + f"arch=c000003e syscall={syscall} success=yes exit={exit_code} "
                                         f"{args} ppid=10 pid=42 auid=1000 uid=1001 gid=1002 euid=1003 comm=\"cat\" "
                                         'exe="/usr/bin/cat" key="falcopy"').encode()))
    for kind, text in extra:
        asm.add(parse_record(kind, (head + text).encode()))
    done = asm.add(parse_record(AUDIT_EOE, head.encode()))
    assert done is not None
    return done


SOCKETS = {(42, 4): ("10.0.0.5", 53122), (42, 5): ("10.0.0.1", 8080)}  # (pid, fd) -> local end


def decoder(links: dict[str, str] | None = None) -> Decoder:
    table = ProcessTable(reader=lambda pid: ProcessInfo(**{k: getattr(PROCS[pid], k) for k in
                                                          ("pid", "ppid", "name", "container_id")})
                         if pid in PROCS else None)

    def readlink(path: str) -> str:
        if links and path in links:
            return links[path]
        raise FileNotFoundError(path)

    return Decoder(table, readlink=readlink, containers=lambda cid: ContainerInfo(id=cid, pod_name="api-1"),
                   sockname=lambda pid, fd: SOCKETS.get((pid, fd)))


def test_openat_relative_to_cwd_with_flags_and_process_chain() -> None:
    event = decoder().decode(group(257, "a0=ffffff9c a1=7ff a2=80000 a3=0", (AUDIT_CWD, 'cwd="/etc"'),
                                   (AUDIT_PATH, 'item=0 name="shadow" nametype=NORMAL mode=0100640')))
    assert event is not None
    assert (event.type, event.dir, event.res, event.ts) == ("openat", "<", 3, 1_700_000_000_500_000_000)
    assert event.args == {"dirfd": -100, "fd": 3, "name": "/etc/shadow", "flags": 0o2000000, "mode": 0}
    assert event.fd is not None and (event.fd.name, event.fd.type, event.fd.num) == ("/etc/shadow", "file", 3)
    assert event.proc is not None and event.proc.name == "cat" and event.proc.loginuid == 1000
    assert (event.proc.uid, event.proc.gid, event.proc.euid) == (1001, 1002, 1003)  # the record's credentials
    assert event.proc.parent is not None and event.proc.parent.name == "bash"
    assert event.proc.exepath == "/usr/bin/cat"
    assert event.container is not None and event.container.pod_name == "api-1"


def test_openat_relative_to_dirfd() -> None:
    event = decoder({"/proc/42/fd/5": "/var/lib"}).decode(
        group(257, "a0=5 a1=0 a2=241 a3=1a4", (AUDIT_PATH, 'item=0 name="x/../db" nametype=CREATE')))
    assert event is not None and event.args["name"] == "/var/lib/db" and event.args["mode"] == 0o644
    assert event.args["flags"] == 0o1101  # O_WRONLY|O_CREAT|O_TRUNC


def test_the_name_as_given_is_fd_nameraw_also_when_the_open_fails() -> None:
    event = decoder({"/proc/42/fd/5": "/srv/www/html"}).decode(
        group(257, "a0=5 a1=0 a2=0 a3=0", (AUDIT_PATH, 'item=0 name="../../../etc/../etc/none" nametype=UNKNOWN'),
              exit_code="-2"))
    assert event is not None and event.fd is not None
    assert (event.fd.name, event.fd.nameraw, event.fd.num) == ("/etc/none", "../../../etc/../etc/none", -1)


def test_openat2_flags_mode_and_resolve_come_from_its_openat2_record() -> None:
    event = decoder().decode(group(437, "a0=ffffff9c a1=7ff a2=7fe a3=18", (AUDIT_CWD, 'cwd="/"'),
                                   (AUDIT_PATH, 'item=0 name="/var/log/syslog" nametype=NORMAL mode=0100640'),
                                   (AUDIT_OPENAT2, "oflag=01001 mode=0644 resolve=0x8")))
    assert event is not None and event.type == "openat2"
    assert (event.args["flags"], event.args["mode"], event.args["resolve"]) == (0o1001, 0o644, 8)
    assert event.fd is not None and event.fd.open_flags == 0o1001  # O_WRONLY|O_TRUNC


def test_failed_open_has_negative_res_and_no_fd() -> None:
    event = decoder().decode(group(2, "a0=1 a1=0 a2=0 a3=0", (AUDIT_CWD, 'cwd="/"'),
                                   (AUDIT_PATH, 'item=0 name="/nope" nametype=UNKNOWN'), exit_code="-2"))
    assert event is not None and event.type == "open" and event.res == -2 and event.args["fd"] == -1


def test_execve_takes_argv_from_the_record() -> None:
    event = decoder().decode(group(59, "a0=0 a1=0 a2=0 a3=0", (AUDIT_EXECVE, 'argc=3 a0="find" a1="/" a2="-q"'),
                                   (AUDIT_CWD, 'cwd="/root"'), exit_code="0"))
    assert event is not None and event.type == "execve" and event.res == 0
    assert event.proc is not None and event.proc.args == ["/", "-q"] and event.proc.exe == "find"
    assert event.args["args"] == ["/", "-q"] and event.args["cwd"] == "/root/"


def test_connect_builds_socket_tuple() -> None:
    event = decoder().decode(group(42, "a0=4 a1=0 a2=10 a3=0", (AUDIT_SOCKADDR, "saddr=020001BB0A000001"),
                                   exit_code="0"))
    assert event is not None and event.fd is not None
    assert (event.fd.type, event.fd.dip, event.fd.dport, event.fd.l4proto) == ("ipv4", "10.0.0.1", 443, "tcp")
    assert (event.fd.sip, event.fd.sport) == ("10.0.0.5", 53122)  # our end, read from the socket itself
    assert event.fd.name == "10.0.0.5:53122->10.0.0.1:443" and event.args["fd"] == 4
    refused = decoder().decode(group(42, "a0=4 a1=0 a2=10 a3=0", (AUDIT_SOCKADDR, "saddr=020001BB0A000001"),
                                     exit_code="-111"))
    assert refused is not None and refused.fd is not None
    assert refused.fd.name == "0.0.0.0:0->10.0.0.1:443"  # a failed connect has no local end to read
    gone = decoder().decode(group(42, "a0=9 a1=0 a2=10 a3=0", (AUDIT_SOCKADDR, "saddr=020001BB0A000001"),
                                  exit_code="0"))
    assert gone is not None and gone.fd is not None and gone.fd.name == "0.0.0.0:0->10.0.0.1:443"


def test_bind_is_the_server_end_and_accept_reports_the_client() -> None:
    # x86_64: bind = 49, accept = 43; the sockaddr of bind is our own address, of accept the peer's
    bound = decoder().decode(group(49, "a0=4 a1=0 a2=10 a3=0", (AUDIT_SOCKADDR, "saddr=02001F900A000001"),
                                   exit_code="0"))
    assert bound is not None and bound.fd is not None
    assert (bound.fd.dip, bound.fd.dport, bound.fd.sip, bound.fd.is_server) == ("10.0.0.1", 8080, None, True)
    peer = decoder().decode(group(43, "a0=4 a1=0 a2=10 a3=0", (AUDIT_SOCKADDR, "saddr=0200D4310A000002"),
                                  exit_code="5"))
    assert peer is not None and peer.fd is not None
    assert (peer.fd.sip, peer.fd.sport, peer.fd.is_server) == ("10.0.0.2", 54321, True)
    assert (peer.fd.dip, peer.fd.dport) == ("10.0.0.1", 8080)  # our end of the accepted socket (fd 5)
    assert peer.fd.name == "10.0.0.2:54321->10.0.0.1:8080"
    assert peer.fd.num == 5 and peer.args["fd"] == 5  # an accept's fd is the new connection's


def test_symlink_target_and_rename_paths() -> None:
    link = decoder().decode(group(266, "a0=0 a1=ffffff9c a2=0 a3=0", (AUDIT_CWD, 'cwd="/tmp"'),
                                  (AUDIT_PATH, 'item=0 name="/tmp/" nametype=PARENT'),
                                  (AUDIT_PATH, 'item=1 name="/etc/shadow" nametype=UNKNOWN'),
                                  (AUDIT_PATH, 'item=2 name="l" nametype=CREATE'), exit_code="0"))
    assert link is not None and link.type == "symlinkat"
    assert (link.args["target"], link.args["linkpath"]) == ("/etc/shadow", "/tmp/l")
    moved = decoder().decode(group(82, "a0=0 a1=0 a2=0 a3=0", (AUDIT_CWD, 'cwd="/srv"'),
                                   (AUDIT_PATH, 'item=0 name="/srv/" nametype=PARENT'),
                                   (AUDIT_PATH, 'item=1 name="/srv/" nametype=PARENT'),
                                   (AUDIT_PATH, 'item=2 name="a" nametype=DELETE'),
                                   (AUDIT_PATH, 'item=3 name="b" nametype=CREATE'), exit_code="0"))
    assert moved is not None and (moved.args["oldpath"], moved.args["newpath"]) == ("/srv/a", "/srv/b")


def test_ptrace_numeric_args_and_exit_group_is_procexit() -> None:
    traced = decoder().decode(group(101, "a0=10 a1=1234 a2=0 a3=0", exit_code="0"))
    assert traced is not None and traced.args == {"request": 16, "pid": 4660, "addr": 0, "data": 0}
    gone = decoder().decode(group(231, "a0=0 a1=0 a2=0 a3=0", exit_code="0"))
    assert gone is not None and gone.type == "procexit"


def test_unknown_syscall_number_is_counted_not_raised() -> None:
    dec = decoder()
    assert dec.decode(group(9999, "a0=0 a1=0 a2=0 a3=0")) is None and dec.undecodable == 1
