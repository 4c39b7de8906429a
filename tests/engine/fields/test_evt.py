"""``evt.*`` extractors: type, times, return values, arguments and open classification."""

from __future__ import annotations

from typing import Any

import pytest

from engine.fields.evt import hostname

O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_CLOEXEC = 0o1, 0o2, 0o100, 0o1000, 0o2000000


def test_basic_fields(make_event: Any, field: Any, ts: int) -> None:
    ev = make_event("openat", res=3, num=42, cpu=1)
    assert field(ev, "evt.type") == "openat"
    assert field(ev, "syscall.type") == "openat"
    assert field(ev, "evt.dir") == "<"
    assert field(ev, "evt.num") == 42
    assert field(ev, "evt.cpu") == 1
    assert field(ev, "evt.rawtime") == ts
    assert field(ev, "evt.rawtime.s") == ts // 10**9
    assert field(ev, "evt.rawtime.ns") == 123_456_789
    assert field(ev, "evt.time") == "22:13:20.123456789"
    assert field(ev, "evt.datetime") == "2023-11-14 22:13:20.123456789"
    assert field(ev, "evt.time.iso8601") == "2023-11-14T22:13:20.123456789Z"
    assert field(ev, "evt.category") == "file"
    assert field(ev, "evt.source") == "syscall"
    assert field(ev, "evt.plugininfo") is None
    assert field(make_event("procexit"), "syscall.type") is None
    assert field(make_event("connect"), "evt.category") == "net"
    assert field(make_event("frobnicate"), "evt.category") == "other"


def test_hostname_honours_falco_hostname(monkeypatch: pytest.MonkeyPatch, make_event: Any, field: Any) -> None:
    hostname.cache_clear()
    monkeypatch.setenv("FALCO_HOSTNAME", "node-7")
    try:
        assert field(make_event(), "evt.hostname") == "node-7"
    finally:
        hostname.cache_clear()


@pytest.mark.parametrize(("res", "text", "failed"), [(3, "SUCCESS", False), (0, "SUCCESS", False),
                                                     (-2, "ENOENT", True), (-13, "EACCES", True),
                                                     (None, None, None)])
def test_return_value(make_event: Any, field: Any, res: int | None, text: str | None,
                      failed: bool | None) -> None:
    ev = make_event("open", res=res)
    assert field(ev, "evt.res") == text
    assert field(ev, "evt.rawres") == res
    assert field(ev, "evt.failed") is failed


def test_arguments_render_flags_and_modes(make_event: Any, field: Any) -> None:
    ev = make_event("openat", res=5, args={"dirfd": -100, "name": "/etc/passwd",
                                           "flags": O_WRONLY | O_CREAT | O_CLOEXEC, "mode": 0o644})
    assert field(ev, "evt.arg", "flags") == "O_WRONLY|O_CREAT|O_CLOEXEC"
    assert "O_CREAT" in field(ev, "evt.arg", "flags")
    assert field(ev, "evt.rawarg", "flags") == O_WRONLY | O_CREAT | O_CLOEXEC
    assert field(ev, "evt.arg", "mode") == "S_IROTH|S_IRGRP|S_IWUSR|S_IRUSR"
    assert field(ev, "evt.arg", "name") == "/etc/passwd"
    assert field(ev, "evt.arg", "fd") == "5"  # the return value is the exit event's fd parameter
    assert field(ev, "evt.arg", 0) == "5"
    assert field(ev, "evt.arg", 2) == "/etc/passwd"  # fd, dirfd, name...
    assert field(ev, "evt.arg", "dirfd") == "AT_FDCWD"
    assert field(ev, "evt.arg", "nosuch") is None
    assert field(ev, "evt.arg", 99) is None
    args = field(ev, "evt.args")
    assert "flags=524353(O_WRONLY|O_CREAT|O_CLOEXEC)" in args and "name=/etc/passwd" in args


@pytest.mark.parametrize(("etype", "key", "value", "text"), [
    ("ptrace", "request", 16, "PTRACE_ATTACH"),
    ("socket", "domain", 17, "AF_PACKET"),
    ("socket", "type", 0o2000001, "SOCK_STREAM|SOCK_CLOEXEC"),
    ("bpf", "cmd", 5, "BPF_PROG_LOAD"),
    ("chmod", "mode", 0o4755, "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"),
    ("mmap", "prot", 7, "PROT_READ|PROT_WRITE|PROT_EXEC"),
    ("mmap", "prot", 0, "PROT_NONE"),
    ("unshare", "flags", 0x10000000 | 0x20000, "CLONE_NEWNS|CLONE_NEWUSER"),
    ("setuid", "uid", 0, "0"),
    ("execve", "args", ["-c", "id"], "-c id"),
    ("write", "data", b"hi\xff", "hi\ufffd"),
])
def test_argument_tables(make_event: Any, field: Any, etype: str, key: str, value: Any, text: str) -> None:
    assert field(make_event(etype, args={key: value}), "evt.arg", key) == text


def test_negative_fd_result_names_errno(make_event: Any, field: Any) -> None:
    assert field(make_event("bpf", res=-1, args={"cmd": 5}), "evt.arg", "res_or_fd") == "-1(EPERM)"


@pytest.mark.parametrize(("etype", "flags", "mode", "read", "write", "create", "exec_"), [
    ("openat", 0, 0, True, False, False, False),
    ("openat", O_WRONLY | O_TRUNC, 0, False, True, False, False),
    ("open", O_RDWR, 0, True, True, False, False),
    ("openat2", O_WRONLY | O_CREAT, 0o755, False, True, True, True),
    ("openat", O_WRONLY | O_CREAT, 0o644, False, True, True, False),
    ("creat", None, 0o700, False, True, True, True),
    ("read", 0, 0, False, False, False, False),
])
def test_open_classification(make_event: Any, field: Any, etype: str, flags: int | None, mode: int,
                             read: bool, write: bool, create: bool, exec_: bool) -> None:
    args: dict[str, Any] = {"mode": mode}
    if flags is not None:
        args["flags"] = flags
    ev = make_event(etype, args=args, res=3)
    assert field(ev, "evt.is_open_read") is read
    assert field(ev, "evt.is_open_write") is write
    assert field(ev, "evt.is_open_create") is create
    assert field(ev, "evt.is_open_exec") is exec_


def test_io_and_buffers(make_event: Any, field: Any) -> None:
    ev = make_event("write", args={"data": b"abc", "fd": 1}, res=3)
    assert field(ev, "evt.is_io") is True and field(ev, "evt.is_io_write") is True
    assert field(ev, "evt.is_io_read") is False and field(ev, "evt.io_dir") == "w"
    assert field(ev, "evt.buffer") == b"abc" and field(ev, "evt.buflen") == 3
    assert field(make_event("close"), "evt.buffer") is None


def test_abspath(make_event: Any, field: Any) -> None:
    rel = make_event("unlinkat", args={"dirfd": -100, "name": "../x.txt"})
    assert field(rel, "evt.abspath") == "/srv/x.txt"  # cwd is /srv/app
    other_dir = make_event("unlinkat", args={"dirfd": 7, "name": "x.txt"})
    assert field(other_dir, "evt.abspath") is None  # relative to an fd the event does not describe
    ren = make_event("renameat2", args={"oldpath": "/a/b", "newpath": "c", "newdirfd": -100})
    assert field(ren, "evt.abspath.src") == "/a/b"
    assert field(ren, "evt.abspath.dst") == "/srv/app/c"


@pytest.mark.parametrize(("etype", "args", "res", "key", "text"), [
    ("openat", {"fd": -2}, -2, "fd", "-2(ENOENT)"),  # a failed open's fd is its errno, as Falco prints it
    ("openat", {"fd": -100}, -100, "fd", "-100(ENETDOWN)"),  # the fd parameter is an errno before AT_FDCWD
    ("openat", {"dirfd": -100}, 3, "dirfd", "AT_FDCWD"),
    ("openat", {"dirfd": 7}, 3, "dirfd", "7"),
    ("close", {"fd": 9}, 0, "fd", "9"),
    ("chmod", {"mode": True}, 0, "mode", "true"),  # not an int: rendered as text, not as flags
    ("chmod", {}, -13, "res", "-13(EACCES)"),
    ("chmod", {"filename": "rel/f"}, 0, "filename", "/work/rel/f"),  # a path argument is shown resolved
    ("chmod", {"filename": ""}, 0, "filename", ""),
    ("frobnicate", {"x": -100}, None, "x", "-100"),  # an unknown event's argument: plain text
    ("frobnicate", {"x": b"ab"}, None, "x", "ab"),
])
def test_argument_rendering_by_kind(make_event: Any, field: Any, etype: str, args: dict[str, object],
                                    res: int | None, key: str, text: str) -> None:
    ev = make_event(etype, res=res, args=args)
    ev.proc.cwd = "/work/"
    assert field(ev, "evt.arg", key) == text
