"""The ebpf decoder's open records: the path as given and as resolved (cwd, directory fd, normalization), flags
and descriptor as Falco shows them, and repeated opens — which reuse what they resolved to — still following the
caller's cwd."""

from __future__ import annotations

import struct

import pytest

from engine.events.syscall import ProcessInfo
from engine.sources.syscall.ebpf import decode as d
from engine.sources.syscall.linux_audit.syscalls import X86_64
from engine.state.proctable import ProcessTable

O_DIRECTORY, O_CREAT, O_WRONLY = 0o200000, 0o100, 1


def item(kind: int, argi: int, data: bytes) -> bytes:
    return d.ITEM.pack(kind, argi, len(data)) + data


def components(path: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in reversed([p for p in path.split("/") if p]))


def record(call: str, args: tuple[int, ...], items: bytes, *, pid: int = 50, res: int = 3) -> bytes:
    head = d.HDR.pack(d.K_SYSCALL, X86_64[call], 1, 0, 7_000, pid, pid + 1, res)
    return head + d.ARGS.pack(*(a & 0xFFFFFFFFFFFFFFFF for a in args), *([0] * (6 - len(args)))) + items


def decoder(cwd: str = "/home/u/") -> d.Decoder:
    table = ProcessTable(reader=lambda pid: None)
    table.put(ProcessInfo(pid=50, tid=50, cwd=cwd, name="cat"))
    return d.Decoder(table, boot_ns=1_000, live=False)


@pytest.mark.parametrize(("given", "name", "directory", "filename"), [
    ("/etc/shadow", "/etc/shadow", "/etc", "shadow"),
    ("/etc//./x/../passwd", "/etc/passwd", "/etc", "passwd"),
    ("/", "/", "/", ""),
    ("/tmp/", "/tmp", "/", "tmp"),
])
def test_absolute_openat(given: str, name: str, directory: str, filename: str) -> None:
    event = decoder().decode(record("openat", (-100, 0, O_WRONLY | O_CREAT, 0o640), item(d.I_STR, 1, given.encode())))
    assert event is not None and event.fd is not None
    assert event.type == "openat" and (event.tid, event.pid, event.res, event.ts) == (51, 50, 3, 8_000)
    assert list(event.args.items()) == [("dirfd", -100), ("fd", 3), ("flags", O_WRONLY | O_CREAT),
                                        ("mode", 0o640), ("name", given)]
    assert (event.fd.name, event.fd.nameraw, event.fd.directory, event.fd.filename, event.fd.type,
            event.fd.open_flags) == (name, given, directory, filename, "file", O_WRONLY | O_CREAT)
    assert event.paths is None


def test_relative_paths_resolve_against_the_cwd_or_the_directory_fd() -> None:
    dec = decoder()
    at_cwd = dec.decode(record("openat", (-100, 0, 0, 0), item(d.I_STR, 1, b"../x/f")))
    at_dir = dec.decode(record("openat", (7, 0, O_DIRECTORY, 0), item(d.I_STR, 1, b"sub") +
                               item(d.I_FDPATH, 0, components("/var/lib"))))
    unknown_dir = dec.decode(record("openat", (7, 0, 0, 0), item(d.I_STR, 1, b"sub/f")))
    assert at_cwd is not None and at_cwd.fd is not None and at_cwd.fd.name == "/home/x/f"
    assert at_cwd.args["name"] == "../x/f" and at_cwd.paths == {"name": "/home/x/f"}
    assert at_dir is not None and at_dir.fd is not None
    assert (at_dir.fd.name, at_dir.fd.type, at_dir.fd.directory) == ("/var/lib/sub", "directory", "/var/lib/sub")
    assert unknown_dir is not None and unknown_dir.fd is not None
    assert unknown_dir.fd.name == "sub/f" and unknown_dir.paths is None  # the directory's path is not known


def test_open_creat_and_openat2_arguments() -> None:
    dec = decoder()
    opened = dec.decode(record("open", (0, O_WRONLY, 0o600), item(d.I_STR, 0, b"/tmp/a"), res=-2))
    created = dec.decode(record("creat", (0, 0o644), item(d.I_STR, 0, b"/tmp/b")))
    how = struct.pack("<3Q", O_CREAT, 0o600, 8)
    two = dec.decode(record("openat2", (-100, 0, 0, 24), item(d.I_STR, 1, b"/tmp/c") + item(d.I_OPENHOW, 2, how)))
    assert opened is not None and opened.fd is not None
    assert list(opened.args.items()) == [("fd", -1), ("flags", O_WRONLY), ("mode", 0o600), ("name", "/tmp/a")]
    assert opened.fd.num == -1
    assert created is not None and list(created.args.items()) == [("fd", 3), ("mode", 0o644), ("name", "/tmp/b")]
    assert created.fd is not None and created.fd.open_flags == 0o1101
    assert two is not None and list(two.args.items()) == [("dirfd", -100), ("resolve", 8), ("fd", 3),
                                                          ("flags", O_CREAT), ("mode", 0o600), ("name", "/tmp/c")]


def test_repeated_opens_follow_the_callers_cwd() -> None:
    dec = decoder(cwd="/a/")
    plain = record("openat", (-100, 0, 0, 0), item(d.I_STR, 1, b"f"))
    first, again = dec.decode(plain), dec.decode(plain)
    assert first is not None and again is not None and first.fd is not None and again.fd is not None
    assert first is not again and first.num + 1 == again.num and first.fd.name == again.fd.name == "/a/f"
    moved = dec.decode(record("openat", (-100, 0, 0, 0), item(d.I_STR, 1, b"f") + item(d.I_CWD, 0, components("/b"))))
    assert moved is not None and moved.fd is not None and moved.fd.name == "/b/f"
    assert dec.table.get(50).cwd == "/b/"  # type: ignore[union-attr]
    dec.table.get(50).cwd = "/c/"  # type: ignore[union-attr]  # a chdir seen elsewhere
    after = dec.decode(plain)
    assert after is not None and after.fd is not None and after.fd.name == "/c/f"
    replayed = dec.decode(record("openat", (-100, 0, 0, 0), item(d.I_STR, 1, b"f") + item(d.I_CWD, 0, components("/b"))))
    assert replayed is not None and replayed.fd is not None and replayed.fd.name == "/b/f"
    assert dec.table.get(50).cwd == "/b/"  # type: ignore[union-attr]  # the record's cwd applies on a repeat too


def test_a_truncated_record_is_an_error() -> None:
    with pytest.raises(struct.error):
        decoder().decode(record("openat", (-100, 0, 0, 0), b"")[:40])
