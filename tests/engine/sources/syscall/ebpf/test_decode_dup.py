"""The ebpf decoder's dup records: the new descriptor is what the old one was when the kernel saw the call — a
file by its path, a socket by the kernel's two ends (so a socket dup'd onto stdout is an ``ipv4`` descriptor, as the
"Redirect STDOUT/STDIN to Network Connection" rule needs), and neither when the probe sent neither."""

from __future__ import annotations

import ipaddress

from test_decode_open import components, decoder, item, record

from engine.sources.syscall.ebpf import decode as d
from engine.sources.syscall.ebpf import sockets


def tuple_item(argi: int, family: int, proto: int, local: tuple[str, int], remote: tuple[str, int]) -> bytes:
    def raw(addr: str) -> bytes:
        return ipaddress.ip_address(addr).packed.ljust(16, b"\0")
    return item(sockets.I_TUPLE, argi, sockets.TUPLE.pack(family, proto, local[1], remote[1], raw(local[0]),
                                                           raw(remote[0])))


def test_a_dupd_tcp_socket_is_an_ipv4_descriptor_with_both_ends() -> None:
    event = decoder().decode(record("dup2", (3, 1), tuple_item(0, 2, 6, ("10.0.0.5", 41000),
                                                              ("203.0.113.7", 4444)), res=1))
    assert event is not None and event.fd is not None
    fd = event.fd
    assert (fd.num, fd.type, fd.l4proto, fd.name) == (1, "ipv4", "tcp", "10.0.0.5:41000->203.0.113.7:4444")
    assert (fd.sip, fd.sport, fd.dip, fd.dport, fd.is_server) == ("10.0.0.5", 41000, "203.0.113.7", 4444, False)


def test_a_dupd_ipv6_udp_socket() -> None:
    event = decoder().decode(record("dup3", (4, 2, 0), tuple_item(0, 10, 17, ("::1", 5353), ("::1", 53)), res=2))
    assert event is not None and event.fd is not None
    assert (event.fd.type, event.fd.l4proto, event.fd.name) == ("ipv6", "udp", "::1:5353->::1:53")


def test_a_dupd_file_keeps_its_path_and_a_failed_dup_has_no_descriptor() -> None:
    ok = decoder().decode(record("dup", (4,), item(d.I_FDPATH, 0, components("/etc/hostname")), res=9))
    failed = decoder().decode(record("dup2", (4, 1), tuple_item(0, 2, 6, ("10.0.0.5", 1), ("10.0.0.6", 2)), res=-9))
    assert ok is not None and ok.fd is not None
    assert (ok.fd.num, ok.fd.type, ok.fd.name, ok.fd.filename) == (9, "file", "/etc/hostname", "hostname")
    assert failed is not None and failed.fd is None
