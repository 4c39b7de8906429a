"""``fd.*`` and ``fs.path.*`` extractors: files, sockets (client/server/local/remote), type characters."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from engine.events.syscall import FdInfo


def _sock(*, is_server: bool, v6: bool = False) -> FdInfo:
    client, server = ("fd00::1", "fd00::2") if v6 else ("10.0.0.5", "93.184.216.34")
    return FdInfo(num=4, type="ipv6" if v6 else "ipv4", sip=client, sport=51000, dip=server, dport=443,
                  l4proto="tcp", is_server=is_server, connected=True)


def test_file_fd(make_event: Any, field: Any) -> None:
    ev = make_event(fd=FdInfo(num=3, type="file", name="/etc/ssh/sshd_config"))
    assert field(ev, "fd.num") == 3
    assert field(ev, "fd.type") == "file" and field(ev, "fd.typechar") == "f"
    assert field(ev, "fd.name") == "/etc/ssh/sshd_config"
    assert field(ev, "fd.directory") == "/etc/ssh"  # derived when the backend left it empty
    assert field(ev, "fd.filename") == "sshd_config"
    assert field(ev, "fd.nameraw") == "/etc/ssh/sshd_config"
    assert field(ev, "fd.sip") is None and field(ev, "fd.ip") is None and field(ev, "fd.sockfamily") is None
    assert field(ev, "fd.containername") == "0123456789ab:/etc/ssh/sshd_config"
    assert field(ev, "fd.types") == ["file"] and field(ev, "fd.types", 0) == ["file"]
    assert field(ev, "fd.types", 1) is None


def test_directory_fd(make_event: Any, field: Any) -> None:
    ev = make_event(fd=FdInfo(num=3, type="directory", name="/var/lib"))
    assert field(ev, "fd.typechar") == "d"
    assert field(ev, "fd.directory") == "/var/lib"
    assert field(ev, "fd.filename") is None


@pytest.mark.parametrize(("ftype", "char"), [("ipv4", "4"), ("ipv6", "6"), ("unix", "u"), ("pipe", "p"),
                                             ("event", "e"), ("signalfd", "s"), ("eventpoll", "l"),
                                             ("inotify", "i"), ("timerfd", "t"), ("netlink", "n"),
                                             ("memfd", "m"), ("bpf", "b"), ("weird", "o")])
def test_typechar(make_event: Any, field: Any, ftype: str, char: str) -> None:
    assert field(make_event(fd=FdInfo(type=ftype)), "fd.typechar") == char


def test_no_fd_is_missing(make_event: Any, field: Any) -> None:
    ev = make_event("execve")
    for name in ("fd.num", "fd.name", "fd.type", "fd.typechar", "fd.sip", "fd.lport", "fd.directory",
                 "fd.types", "fd.l4proto"):
        assert field(ev, name) is None, name


def test_client_socket(make_event: Any, field: Any) -> None:
    ev = make_event("connect", fd=_sock(is_server=False), res=0)
    assert field(ev, "fd.name") == "10.0.0.5:51000->93.184.216.34:443"
    assert field(ev, "fd.cip") == ipaddress.ip_address("10.0.0.5")
    assert field(ev, "fd.sip") == ipaddress.ip_address("93.184.216.34")
    assert field(ev, "fd.lip") == field(ev, "fd.cip")
    assert field(ev, "fd.rip") == field(ev, "fd.sip")
    assert (field(ev, "fd.cport"), field(ev, "fd.sport")) == (51000, 443)
    assert (field(ev, "fd.lport"), field(ev, "fd.rport")) == (51000, 443)
    assert field(ev, "fd.port") == [51000, 443]
    assert [str(a) for a in field(ev, "fd.ip")] == ["10.0.0.5", "93.184.216.34"]
    assert field(ev, "fd.snet") == ipaddress.ip_address("93.184.216.34")
    assert field(ev, "fd.l4proto") == "tcp" and field(ev, "fd.sockfamily") == "ip"
    assert field(ev, "fd.is_server") is False and field(ev, "fd.connected") is True
    assert field(ev, "fd.sproto") == "https" and field(ev, "fd.rproto") == "https"
    assert field(ev, "fd.sip.name") is None  # no reverse DNS here


def test_server_socket_swaps_local_and_remote(make_event: Any, field: Any) -> None:
    ev = make_event("accept4", fd=_sock(is_server=True, v6=True), res=4)
    assert field(ev, "fd.typechar") == "6"
    assert field(ev, "fd.lip") == ipaddress.ip_address("fd00::2")
    assert field(ev, "fd.rip") == ipaddress.ip_address("fd00::1")
    assert (field(ev, "fd.lport"), field(ev, "fd.rport")) == (443, 51000)
    assert field(ev, "fd.name") == "fd00::1:51000->fd00::2:443"


def test_recorded_name_wins_and_bad_address_is_missing(make_event: Any, field: Any) -> None:
    fd = _sock(is_server=False)
    fd.name = "custom"
    fd.dip = "not-an-ip"
    ev = make_event("connect", fd=fd)
    assert field(ev, "fd.name") == "custom"
    assert field(ev, "fd.sip") is None
    assert [str(a) for a in field(ev, "fd.ip")] == ["10.0.0.5"]


def test_unix_socket(make_event: Any, field: Any) -> None:
    ev = make_event("connect", fd=FdInfo(num=5, type="unix", name="/run/containerd/containerd.sock"))
    assert field(ev, "fd.sockfamily") == "unix" and field(ev, "fd.typechar") == "u"
    assert field(ev, "fd.name") == "/run/containerd/containerd.sock"
    assert field(ev, "fd.sip") is None


def test_fs_path(make_event: Any, field: Any) -> None:
    ev = make_event("mkdirat", args={"dirfd": -100, "path": "tmp/x", "mode": 0o755})
    assert field(ev, "fs.path.name") == "/srv/app/tmp/x"
    assert field(ev, "fs.path.nameraw") == "tmp/x"
    link = make_event("symlinkat", args={"target": "/etc/shadow", "linkpath": "s"})
    assert field(link, "fs.path.source") == "/etc/shadow"
    assert field(link, "fs.path.target") == "/srv/app/s"
    assert field(link, "fs.path.targetraw") == "s"
    assert field(make_event("close"), "fs.path.name") is None


def test_fs_path_relative_to_a_directory_fd(make_event: Any, field: Any) -> None:
    """A path relative to a directory fd is the directory's path joined to it (the kernel's resolution, kept in
    ``SyscallEvent.paths``), never the cwd's; unresolved it is missing rather than wrong."""
    resolved = make_event("unlinkat", args={"dirfd": 5, "name": "../b/x", "flags": 0},
                          paths={"name": "/data/b/x"})
    assert field(resolved, "fs.path.name") == "/data/b/x" and field(resolved, "fs.path.nameraw") == "../b/x"
    assert field(resolved, "evt.abspath") == "/data/b/x"
    unknown = make_event("unlinkat", args={"dirfd": 5, "name": "x", "flags": 0})
    assert field(unknown, "fs.path.name") is None and field(unknown, "evt.abspath") is None
    assert field(unknown, "fs.path.nameraw") == "x"
    rename = make_event("renameat", args={"olddirfd": 5, "oldpath": "a", "newdirfd": -100, "newpath": "b"},
                        paths={"oldpath": "/data/a"})
    assert field(rename, "fs.path.source") == "/data/a" and field(rename, "fs.path.target") == "/srv/app/b"
    assert field(rename, "evt.abspath.src") == "/data/a" and field(rename, "evt.abspath.dst") == "/srv/app/b"
    absolute = make_event("openat", args={"dirfd": 5, "name": "/etc/../etc/passwd", "flags": 0})
    assert field(absolute, "fs.path.name") == "/etc/passwd"  # an absolute path ignores the directory fd


def test_path_argument_shows_resolved_and_rawarg_as_given(make_event: Any, field: Any) -> None:
    ev = make_event("mkdirat", args={"dirfd": 7, "path": "sub", "mode": 0o755}, paths={"path": "/data/sub"})
    assert field(ev, "evt.arg", "path") == "/data/sub"
    assert field(ev, "evt.rawarg", "path") == "sub"
    assert field(make_event("mkdirat", args={"dirfd": 7, "path": "sub"}), "evt.arg", "path") == "sub"
