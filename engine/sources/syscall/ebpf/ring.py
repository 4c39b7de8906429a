"""Reading a BPF ring buffer from Python: the map is mmapped and records are sliced out in batches.

Owns: the ring's memory layout (a consumer page we write, a producer page and the data area mapped twice by the
kernel so a record never wraps), walking the 8-byte record headers (busy and discard bits), advancing the
consumer position once per batch, and waiting on the map fd with epoll. There is no foreign call per record:
one batch is one ``bytes`` copy of the ready region plus a list of (offset, length) pairs into it.

Must not: parse record contents or load programs.
"""

from __future__ import annotations

import mmap
import select
import struct

BUSY, DISCARD = 1 << 31, 1 << 30
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
BATCH_BYTES = 1 << 20  # at most this much of a backlog per batch: about 8,000 records


class RingReader:
    """Consume records of the ring buffer map ``fd`` of ``size`` bytes (a power of two, page multiple)."""

    def __init__(self, fd: int, size: int) -> None:
        page = mmap.PAGESIZE
        self.size = size
        self.mask = size - 1
        self._consumer = mmap.mmap(fd, page, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self._producer = mmap.mmap(fd, page + 2 * size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ,
                                   offset=page)
        self._page = page
        self._epoll = select.epoll()
        self._epoll.register(fd, select.EPOLLIN)

    def batch(self, limit: int = BATCH_BYTES) -> tuple[bytes, list[tuple[int, int]]]:
        """The records ready now (those in the first ``limit`` bytes of a longer backlog): one copy of their
        region and (offset, length) of each record in it."""
        cons = _U64.unpack_from(self._consumer, 0)[0]
        prod = _U64.unpack_from(self._producer, 0)[0]
        if prod == cons:
            return b"", []
        base = self._page + (cons & self.mask)
        data = self._producer[base:base + min(prod - cons, limit)]
        spans: list[tuple[int, int]] = []
        at, end = 0, len(data)
        unpack = _U32.unpack_from
        while at + 8 <= end:
            head = unpack(data, at)[0]
            if head & BUSY:
                break
            length = head & ~(BUSY | DISCARD)
            if at + 8 + length > end:
                break  # the rest of this record is past ``limit``: the next batch starts with it
            if not head & DISCARD:
                spans.append((at + 8, length))
            at += (length + 8 + 7) & ~7
        _U64.pack_into(self._consumer, 0, cons + at)
        return data, spans

    def wait(self, timeout: float) -> bool:
        """Block until the kernel signals new records (or ``timeout`` seconds pass)."""
        return bool(self._epoll.poll(timeout))

    def close(self) -> None:
        self._epoll.close()
        self._consumer.close()
        self._producer.close()
