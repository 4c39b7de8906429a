"""A small ctypes binding over ``libbpf.so.1``: open a CO-RE object, size its maps, load, attach, close.

Owns: the libbpf calls the ebpf backend makes (object open/load/close, map lookup/update/resize, program attach,
link destroy) and turning their negative-errno results into ``BpfError`` with the step and the reason. libbpf's
own messages (the verifier log on a failed load) are collected, never printed, and attached to the error.

Must not: know the probe's maps or record layout (``engine.sources.syscall.ebpf.backend`` does), pin anything
(programs live as long as this process's file descriptors: a SIGKILL unloads them), or be called per event.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

LIBBPF_NAMES = ("libbpf.so.1", "libbpf.so")
_PRINT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class BpfError(OSError):
    """A libbpf step failed: ``step`` names it, ``errno`` is the kernel's reason, ``log`` libbpf's messages."""

    def __init__(self, step: str, err: int, log: list[str] | None = None, reason: str | None = None) -> None:
        super().__init__(err, f"{step}: {reason or os.strerror(err)}")
        self.step = step
        self.log = list(log or ())


class Libbpf:
    """The loaded library with typed entry points (one instance per process is enough)."""

    def __init__(self) -> None:
        lib = None
        last: OSError | None = None
        for name in LIBBPF_NAMES:
            try:
                lib = ctypes.CDLL(name, use_errno=True)
                break
            except OSError as exc:
                last = exc
        if lib is None:
            raise OSError(f"libbpf not found ({', '.join(LIBBPF_NAMES)}): {last}")
        self.lib = lib
        vp, cp, ci, cu = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32
        sig: dict[str, tuple[Any, list[Any]]] = {
            "bpf_object__open_file": (vp, [cp, vp]), "bpf_object__load": (ci, [vp]),
            "bpf_object__close": (None, [vp]), "bpf_object__find_map_by_name": (vp, [vp, cp]),
            "bpf_object__find_program_by_name": (vp, [vp, cp]), "bpf_map__set_max_entries": (ci, [vp, cu]),
            "bpf_map__fd": (ci, [vp]), "bpf_program__attach": (vp, [vp]), "bpf_link__destroy": (ci, [vp]),
            "bpf_map_update_elem": (ci, [ci, vp, vp, ctypes.c_uint64]),
            "bpf_map_lookup_elem": (ci, [ci, vp, vp]), "libbpf_num_possible_cpus": (ci, []),
            "libbpf_set_print": (vp, [_PRINT]), "libbpf_strerror": (ci, [ci, cp, ctypes.c_size_t]),
        }
        for name, (restype, argtypes) in sig.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        self.log: list[str] = []
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        vsnprintf = libc.vsnprintf
        vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]

        def collect(_level: int, fmt: bytes, args: int) -> int:
            buf = ctypes.create_string_buffer(1 << 20)
            vsnprintf(buf, len(buf), fmt, args)
            self.log.append(buf.value.decode(errors="replace").rstrip("\n"))
            del self.log[:-200]  # the end of a verifier log says why
            return 0

        self._printer = _PRINT(collect)  # kept referenced: libbpf calls it during open/load
        lib.libbpf_set_print(self._printer)

    def num_possible_cpus(self) -> int:
        return max(1, int(self.lib.libbpf_num_possible_cpus()))

    def fail(self, step: str, err: int | None = None) -> BpfError:
        code = abs(err) if err else (ctypes.get_errno() or 1)
        buf = ctypes.create_string_buffer(256)
        reason = buf.value.decode(errors="replace") if self.lib.libbpf_strerror(code, buf, len(buf)) == 0 else None
        return BpfError(step, code, self.log[-40:], reason)


class BpfObject:
    """An opened (then loaded) object file; ``close()`` detaches every link and frees every map."""

    def __init__(self, lib: Libbpf, path: str) -> None:
        self.lib = lib
        self.links: list[int] = []
        self.obj = lib.lib.bpf_object__open_file(path.encode(), None)
        if not self.obj:
            raise lib.fail(f"open {path}")

    def _map(self, name: str) -> int:
        found = self.lib.lib.bpf_object__find_map_by_name(self.obj, name.encode())
        if not found:
            raise BpfError(f"map {name}", 2)
        return int(found)

    def resize(self, name: str, entries: int) -> None:
        err = self.lib.lib.bpf_map__set_max_entries(self._map(name), entries)
        if err:
            raise self.lib.fail(f"resize map {name}", err)

    def load(self) -> None:
        err = self.lib.lib.bpf_object__load(self.obj)
        if err:
            raise self.lib.fail("load", err)

    def map_fd(self, name: str) -> int:
        fd = int(self.lib.lib.bpf_map__fd(self._map(name)))
        if fd < 0:
            raise self.lib.fail(f"map {name} fd", fd)
        return fd

    def attach(self, program: str) -> None:
        prog = self.lib.lib.bpf_object__find_program_by_name(self.obj, program.encode())
        if not prog:
            raise BpfError(f"program {program}", 2)
        link = self.lib.lib.bpf_program__attach(prog)
        if not link:
            raise self.lib.fail(f"attach {program}")
        self.links.append(int(link))

    def update(self, name: str, key: bytes, value: bytes) -> None:
        kb, vb = ctypes.create_string_buffer(key, len(key)), ctypes.create_string_buffer(value, len(value))
        err = self.lib.lib.bpf_map_update_elem(self.map_fd(name), kb, vb, 0)
        if err:
            raise self.lib.fail(f"update map {name}", err)

    def lookup(self, name: str, key: bytes, size: int) -> bytes:
        kb, out = ctypes.create_string_buffer(key, len(key)), ctypes.create_string_buffer(size)
        err = self.lib.lib.bpf_map_lookup_elem(self.map_fd(name), kb, out)
        if err:
            raise self.lib.fail(f"lookup map {name}", err)
        return out.raw

    def close(self) -> None:
        for link in self.links:
            self.lib.lib.bpf_link__destroy(link)
        self.links.clear()
        if self.obj:
            self.lib.lib.bpf_object__close(self.obj)
            self.obj = None
