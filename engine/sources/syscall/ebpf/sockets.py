"""Sockets as the probe reports them -> ``FdInfo``: the kernel's socket tuple (family, protocol, both ends), the
address the caller passed (``sockaddr``), and the descriptor ``socket()`` made.

Owns: the tuple item's layout and which end is the client, as Falco orients them (an accepted socket's peer is the
client; a bound or listening socket has only its server end). Must not: read ``/proc`` or the process table.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable

from engine.events.syscall import FdInfo

I_SOCKADDR, I_TUPLE = 2, 3  # the probe's item kinds for a caller's sockaddr and the kernel's socket tuple
TUPLE = struct.Struct("<HHHH16s16s")
PROTO = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp", 255: "raw"}
_FAMILY = {2: "ipv4", 10: "ipv6", 1: "unix", 16: "netlink"}
_SOCK_TYPE_PROTO = {1: "tcp", 2: "udp", 3: "raw"}  # SOCK_STREAM, SOCK_DGRAM, SOCK_RAW when the protocol is 0


def _ip(raw: bytes, family: int) -> str:
    return str(ipaddress.IPv4Address(raw[:4])) if family == 2 else str(ipaddress.IPv6Address(raw))


def sockaddr_ip(data: bytes) -> tuple[str, int] | None:
    """(address, port) of a sockaddr_in or sockaddr_in6 as the caller passed it."""
    family = struct.unpack_from("<H", data)[0] if len(data) >= 2 else 0
    if family == 2 and len(data) >= 8:
        return str(ipaddress.IPv4Address(data[4:8])), struct.unpack_from(">H", data, 2)[0]
    if family == 10 and len(data) >= 24:
        return str(ipaddress.IPv6Address(data[8:24])), struct.unpack_from(">H", data, 2)[0]
    return None


def new_socket(fd: int, domain: int, sock_type: int, proto: int) -> FdInfo:
    """The descriptor ``socket()`` made: its family and layer-4 protocol, no address yet."""
    family = _FAMILY.get(domain, "unknown")
    info = FdInfo(num=fd, type=family, name="", connected=False)
    if family in ("ipv4", "ipv6"):
        info.l4proto = PROTO.get(proto) if proto else _SOCK_TYPE_PROTO.get(sock_type & 0xF)
    return info


def socket_fd(etype: str, fd: int, items: Iterable[tuple[int, int, bytes]], *, accepted: bool) -> FdInfo:
    """The socket descriptor ``fd`` of an event of type ``etype`` from its tuple and sockaddr items; an inet
    socket is named ``client->server`` (or ``server`` alone when no client end is known)."""
    info = FdInfo(num=fd, type="ipv4")
    for kind, _argi, data in items:
        if kind == I_TUPLE:
            family, proto, lport, rport, laddr, raddr = TUPLE.unpack(data)
            if family in (2, 10):
                info.type = "ipv4" if family == 2 else "ipv6"
                info.l4proto = PROTO.get(proto, "tcp")
                local, remote = (_ip(laddr, family), lport), (_ip(raddr, family), rport)
                client, server = (remote, local) if accepted else (local, remote)
                info.sip, info.sport = client
                info.dip, info.dport = server
                info.is_server = accepted
                if etype in ("bind", "listen"):  # a server socket: its bound address, no peer
                    info.sip = info.sport = None
                    info.dip, info.dport, info.is_server = local[0], local[1], True
            elif family == 1:
                info.type = "unix"
        elif kind == I_SOCKADDR and info.type == "unix":
            info.name = data[2:].split(b"\0", 1)[0].decode(errors="surrogateescape")
        elif kind == I_SOCKADDR and etype in ("connect", "sendto", "sendmsg") and not info.dport:
            # A refused connect (the kernel cleared the peer) or a datagram sent without a connection: the
            # caller's address is the other end.
            peer = sockaddr_ip(data)
            if peer is not None:
                info.dip, info.dport = peer
    if info.dip is not None and info.type in ("ipv4", "ipv6"):
        info.name = (f"{info.dip}:{info.dport}" if info.sip is None
                     else f"{info.sip}:{info.sport}->{info.dip}:{info.dport}")
    return info
